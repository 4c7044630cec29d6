import type { ConsentErrorMatcher, GrantMode, ProviderName } from './types.ts';

/** What a provider preset fills in. Every value can be overridden by the profile's own keys. */
export interface ProviderPreset {
  readonly name: ProviderName;
  /** Token URI; `{tenant}` is replaced by the profile's `tenant`. Undefined: the profile must give one. */
  readonly tokenUri: string | undefined;
  /** The assertion `aud` this provider expects, given the (final) token URI. */
  readonly audience: (tokenUrl: URL) => string;
  /** Whether an audience (the profile's) is one this provider accepts. */
  readonly audienceFits: (audience: string, tokenUrl: URL) => boolean;
  /** Human-readable form of the expected audience, for `check`. */
  readonly audienceForm: string;
  readonly scopeIn: 'assertion' | 'form';
  /** Longest assertion lifetime the provider accepts, in seconds; undefined when not documented. */
  readonly lifetimeCap: number | undefined;
  readonly grant: GrantMode;
  /** Header thumbprint the provider wants (Entra: x5t#S256). */
  readonly x5tS256: boolean;
  /** Consent page, given the token URI; undefined when the provider has no user consent page. */
  readonly authUri: (tokenUrl: URL) => string | undefined;
  /** Scopes asked for on the consent page, given the profile's scopes. */
  readonly consentScopes: (scopes: readonly string[]) => readonly string[];
  readonly consentErrors: readonly ConsentErrorMatcher[];
  readonly pkce: boolean;
  /** Token response fields passed on by default (`responseFields`). */
  readonly responseFields: readonly string[];
  /** Whether the token request carries `client_id` in client-assertion mode. */
  readonly clientIdParam: boolean;
  /** Where the facts come from (docs/configuration.md "Providers and presets"). */
  readonly source: string;
  /** The preset authenticates with the function's AWS identity (docs/keyless.md), never a key. */
  readonly keyless?: true;
  /** The web identity JWT's `aud` the provider expects, given google-wif's pool provider name. */
  readonly webIdentityAudience?: (workloadIdentityProvider: string | undefined) => string | undefined;
  /** Scopes asked for when the profile names none. */
  readonly defaultScopes?: readonly string[];
  /** RFC 8693 defaults of a token-exchange preset, given google-wif's pool provider name. */
  readonly tokenExchange?: (workloadIdentityProvider: string | undefined) => {
    readonly subjectTokenType: string;
    readonly requestedTokenType: string;
    readonly audience?: string;
  };
}

const tokenUriAudience = (url: URL): string => url.href;
const sameAsTokenUri = (audience: string, url: URL): boolean => audience === url.href;
const sibling = (path: string) => (url: URL) => new URL(path, url.origin).href;
/** `…/token` -> `…/authorize` (Entra v2.0 and Okta put both endpoints side by side). */
const authorizeBesideToken = (url: URL): string | undefined =>
  /\/token$/.test(url.pathname)
    ? new URL(url.pathname.replace(/\/token$/, '/authorize'), url.origin).href
    : undefined;
const profileScopes = (scopes: readonly string[]): readonly string[] => scopes;

function docusign(name: 'docusign' | 'docusign-demo', host: string): ProviderPreset {
  return {
    name,
    tokenUri: `https://${host}/oauth/token`,
    audience: (url) => url.host,
    audienceFits: (audience) => audience === host,
    audienceForm: `the host alone, "${host}" (no scheme, no path)`,
    scopeIn: 'assertion',
    lifetimeCap: 3600,
    grant: 'jwt-bearer',
    x5tS256: false,
    authUri: sibling('/oauth/auth'),
    // JWT grant consent must include `impersonation` besides the API scopes.
    consentScopes: (scopes) => [
      ...new Set([...(scopes.length > 0 ? scopes : ['signature']), 'impersonation']),
    ],
    consentErrors: [{ error: 'consent_required' }],
    pkce: true,
    responseFields: [],
    clientIdParam: false,
    source: 'https://developers.docusign.com/platform/auth/jwt/jwt-get-token/',
  };
}

function salesforce(name: 'salesforce' | 'salesforce-sandbox', origin: string): ProviderPreset {
  return {
    name,
    tokenUri: `${origin}/services/oauth2/token`,
    // The login origin even when the token is fetched from a My Domain host.
    audience: () => origin,
    audienceFits: (audience) =>
      audience === origin ||
      /^https:\/\/[a-z0-9-]+(\.[a-z0-9-]+)*\.(force|site)\.com(\/\S*)?$/i.test(audience),
    audienceForm: `the login origin "${origin}" (or an Experience Cloud site URL)`,
    scopeIn: 'form',
    lifetimeCap: 180,
    grant: 'jwt-bearer',
    x5tS256: false,
    authUri: sibling('/services/oauth2/authorize'),
    consentScopes: profileScopes,
    consentErrors: [{ error: 'invalid_grant', descriptionIncludes: "user hasn't approved this consumer" }],
    pkce: true,
    responseFields: ['instance_url', 'id', 'signature', 'issued_at'],
    clientIdParam: false,
    source: 'https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_jwt_flow.htm',
  };
}

/** The audience Entra expects in a federated credential's token (its recommended value). */
export const ENTRA_FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';

/** Every preset, by name. */
export const PRESETS: Readonly<Record<ProviderName, ProviderPreset>> = {
  docusign: docusign('docusign', 'account.docusign.com'),
  'docusign-demo': docusign('docusign-demo', 'account-d.docusign.com'),
  salesforce: salesforce('salesforce', 'https://login.salesforce.com'),
  'salesforce-sandbox': salesforce('salesforce-sandbox', 'https://test.salesforce.com'),
  google: {
    name: 'google',
    tokenUri: 'https://oauth2.googleapis.com/token',
    audience: tokenUriAudience,
    audienceFits: (audience) => audience === 'https://oauth2.googleapis.com/token',
    audienceForm: 'the token URI "https://oauth2.googleapis.com/token"',
    scopeIn: 'assertion',
    lifetimeCap: 3600,
    grant: 'jwt-bearer',
    x5tS256: false,
    // Domain-wide delegation is granted by a Workspace admin, not on a user consent page.
    authUri: () => undefined,
    consentScopes: profileScopes,
    consentErrors: [],
    pkce: false,
    responseFields: [],
    clientIdParam: false,
    source: 'https://developers.google.com/identity/protocols/oauth2/service-account',
  },
  entra: {
    name: 'entra',
    tokenUri: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
    audience: tokenUriAudience,
    audienceFits: sameAsTokenUri,
    audienceForm: 'the token URI',
    scopeIn: 'form',
    lifetimeCap: undefined,
    grant: 'client-assertion',
    x5tS256: true,
    authUri: authorizeBesideToken,
    consentScopes: profileScopes,
    consentErrors: [{ error: 'invalid_grant', descriptionIncludes: 'AADSTS65001' }],
    pkce: true,
    responseFields: [],
    clientIdParam: true,
    source: 'https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials',
  },
  okta: {
    name: 'okta',
    tokenUri: undefined,
    audience: tokenUriAudience,
    audienceFits: sameAsTokenUri,
    audienceForm: 'the token URI',
    scopeIn: 'form',
    lifetimeCap: 3600,
    grant: 'client-assertion',
    x5tS256: false,
    authUri: authorizeBesideToken,
    consentScopes: profileScopes,
    // Service apps use client credentials: no user consent.
    consentErrors: [],
    pkce: true,
    responseFields: [],
    clientIdParam: false,
    source: 'https://developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/',
  },
  // Entra's federated identity credential: the AWS JWT is the client assertion of the app.
  'entra-federated': {
    name: 'entra-federated',
    tokenUri: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
    audience: tokenUriAudience,
    audienceFits: sameAsTokenUri,
    audienceForm: 'the token URI',
    scopeIn: 'form',
    lifetimeCap: undefined,
    grant: 'client-assertion',
    x5tS256: false,
    authUri: () => undefined,
    consentScopes: profileScopes,
    consentErrors: [],
    pkce: false,
    responseFields: [],
    clientIdParam: true,
    source: 'https://learn.microsoft.com/en-us/entra/workload-id/workload-identity-federation',
    keyless: true,
    webIdentityAudience: () => ENTRA_FEDERATED_AUDIENCE,
  },
  // Google Cloud Workload Identity Federation: an RFC 8693 exchange at Google's STS.
  'google-wif': {
    name: 'google-wif',
    tokenUri: 'https://sts.googleapis.com/v1/token',
    audience: tokenUriAudience,
    audienceFits: () => true,
    audienceForm: 'the workload identity pool provider (tokenExchange.audience)',
    scopeIn: 'form',
    lifetimeCap: undefined,
    grant: 'token-exchange',
    x5tS256: false,
    authUri: () => undefined,
    consentScopes: profileScopes,
    consentErrors: [],
    pkce: false,
    responseFields: [],
    clientIdParam: false,
    source: 'https://cloud.google.com/iam/docs/workload-identity-federation-with-other-providers',
    keyless: true,
    // The provider's default allowed audience: https: followed by its full resource name.
    webIdentityAudience: (name) => (name === undefined ? undefined : `https://iam.googleapis.com/${name}`),
    defaultScopes: ['https://www.googleapis.com/auth/cloud-platform'],
    tokenExchange: (name) => ({
      subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
      requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      ...(name !== undefined && { audience: `//iam.googleapis.com/${name}` }),
    }),
  },
  generic: {
    name: 'generic',
    tokenUri: undefined,
    audience: tokenUriAudience,
    audienceFits: () => true,
    audienceForm: 'any (default: the token URI)',
    scopeIn: 'form',
    lifetimeCap: undefined,
    grant: 'jwt-bearer',
    x5tS256: false,
    authUri: () => undefined,
    consentScopes: profileScopes,
    consentErrors: [],
    pkce: true,
    responseFields: [],
    clientIdParam: false,
    source: 'RFC 7523',
  },
};

/** Preset names, for messages. */
export const PROVIDER_NAMES = Object.keys(PRESETS) as ProviderName[];
