import { BrokerError } from '../errors.ts';
import { isSecretReference, parseReference, REFERENCE_PROBLEM } from '../secrets/reference.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';
import { isKeyless, keylessOptions, providerResource } from './keyless.ts';
import { PRESETS } from './presets.ts';
import type { RawProfile } from './schema.ts';
import type {
  AssertionOptions,
  ConsentErrorMatcher,
  NotifySettings,
  Profile,
  ProviderName,
  TokenEndpoint,
  TokenExchangeOptions,
} from './types.ts';
import { checkRedirectUri, parseSecureUrl, parseTokenUri, privateNetworkProblem, UriProblem } from './uri.ts';

/** Assertion lifetime when the profile gives none (seconds), before the preset's cap. */
export const DEFAULT_ASSERTION_LIFETIME = 300;
/** Seconds `iat`/`nbf` are backdated by default. */
export const DEFAULT_ASSERTION_SKEW = 30;
/** Default `refresh.before` (seconds before expiry a scheduled refresh happens). */
export const DEFAULT_REFRESH_BEFORE = 300;
/** Consecutive failed scheduled refreshes before `Token Refresh Failed` (`notify.refreshFailures`). */
export const DEFAULT_REFRESH_FAILURES = 3;
/** Days before a certificate expires at which `Certificate Expiring` fires (`notify.certificateDays`). */
export const DEFAULT_CERTIFICATE_DAYS: readonly number[] = [30, 7, 1];
/**
 * Answers that mean "consent needed" for every profile, beside the preset's and the
 * profile's own `consentErrors` (OpenID Connect Core §3.1.2.6; DocuSign uses the first).
 */
export const DEFAULT_CONSENT_ERRORS: readonly ConsentErrorMatcher[] = [
  { error: 'consent_required' },
  { error: 'interaction_required' },
];
/** Assertion lifetime above which `check` warns for a profile without a preset, seconds. */
export const GENERIC_LIFETIME_WARNING = 3600;
/** Claims the broker sets itself; `assertion.claims` may not override them. */
export const RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'scope'] as const;

/** RFC 8693 §3 type of a JWT, the default `subject_token_type`. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** RFC 8693 §2.1 parameters a `grant: token-exchange` request sets itself: not for `params`. */
export const TOKEN_EXCHANGE_PARAMS = [
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'audience',
  'resource',
  'actor_token',
  'actor_token_type',
] as const;

/** Problems and warnings found while normalising, as complete lines. */
export interface Findings {
  readonly problems: string[];
  readonly warnings: string[];
}

const SECRET_KEYS = ['certStore', 'certPassword', 'keyPassword', 'certificate', 'clientSecret'] as const;

function uniqueMatchers(matchers: readonly ConsentErrorMatcher[]): ConsentErrorMatcher[] {
  const seen = new Set<string>();
  return matchers.filter((m) => {
    const id = JSON.stringify([m.error, m.descriptionIncludes ?? null]);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

function splitSpaces(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  const parts = typeof value === 'string' ? value.split(/\s+/) : value.flatMap((v) => v.split(/\s+/));
  return [...new Set(parts.filter((p) => p !== ''))];
}

/**
 * Checks a secret reference's syntax (not its value).
 * @returns the problem, never the value itself (the caller names the key), or undefined.
 */
export function referenceProblem(value: string): string | undefined {
  try {
    parseReference(value);
    return undefined;
  } catch (err) {
    const problem = err instanceof BrokerError ? err.details[REFERENCE_PROBLEM] : undefined;
    return typeof problem === 'string' ? problem : 'is not a secret reference';
  }
}

/** `certStore` may also name a KMS key (`kms:`); every other key is a secret reference. */
function certStoreProblem(key: (typeof SECRET_KEYS)[number], value: string): string | undefined {
  if (key === 'certStore' && isKeyless(value)) return undefined;
  if (key !== 'certStore' || !isKmsReference(value)) return referenceProblem(value);
  const parsed = parseKmsReference(value);
  return typeof parsed === 'string' ? parsed : undefined;
}

function tokenEndpoint(raw: RawProfile, provider: ProviderName, add: (key: string, msg: string) => void) {
  const preset = PRESETS[provider];
  let written = raw.tokenUri;
  if (written === undefined && preset.tokenUri !== undefined) {
    if (preset.tokenUri.includes('{tenant}')) {
      if (raw.tenant === undefined) {
        add('tenant', `the ${provider} preset needs "tenant" (directory id or domain) or a full tokenUri`);
        return undefined;
      }
      written = preset.tokenUri.replace('{tenant}', raw.tenant);
    } else {
      written = preset.tokenUri;
    }
  }
  if (written === undefined) {
    add(
      'tokenUri',
      provider === 'okta'
        ? `the okta preset needs the org's token URI, e.g. https://example.okta.com/oauth2/v1/token`
        : 'required (the token endpoint, optionally prefixed with "GET " or "POST ")',
    );
    return undefined;
  }
  try {
    return parseTokenUri(written);
  } catch (err) {
    if (err instanceof UriProblem) add('tokenUri', err.message);
    else throw err;
    return undefined;
  }
}

function assertionOptions(
  raw: RawProfile,
  provider: ProviderName,
  add: (key: string, msg: string) => void,
  warn: (key: string, msg: string) => void,
): AssertionOptions {
  const preset = PRESETS[provider];
  const given = raw.assertion ?? {};
  const cap = preset.lifetimeCap;
  let lifetime = given.lifetime ?? DEFAULT_ASSERTION_LIFETIME;
  if (cap !== undefined && lifetime > cap) {
    if (given.lifetime !== undefined) {
      warn('assertion.lifetime', `${lifetime} s is above the ${provider} limit of ${cap} s; using ${cap}`);
    }
    lifetime = cap;
  }
  if (cap === undefined && lifetime > GENERIC_LIFETIME_WARNING)
    warn(
      'assertion.lifetime',
      `${lifetime} s is a long-lived credential; most providers refuse assertions valid for more than ${GENERIC_LIFETIME_WARNING} s`,
    );
  const claims = given.claims ?? {};
  for (const claim of Object.keys(claims)) {
    if ((RESERVED_CLAIMS as readonly string[]).includes(claim)) {
      add(`assertion.claims.${claim}`, `"${claim}" is set by the broker and cannot be overridden; remove it`);
    }
  }
  return {
    lifetime,
    skew: given.skew ?? DEFAULT_ASSERTION_SKEW,
    typ: given.typ ?? 'JWT',
    algorithm: given.algorithm ?? 'auto',
    x5t: given.x5t ?? false,
    x5tS256: given.x5tS256 ?? preset.x5tS256,
    x5c: given.x5c ?? false,
    kid: given.kid ?? false,
    claims,
  };
}

function optionalUrl(
  key: string,
  value: string | undefined,
  add: (key: string, msg: string) => void,
  check: (v: string) => unknown,
) {
  if (value === undefined) return undefined;
  try {
    check(value);
    return value.trim();
  } catch (err) {
    if (err instanceof UriProblem) add(key, err.message);
    else throw err;
    return undefined;
  }
}

const asList = (value: string | readonly string[] | undefined): string[] =>
  value === undefined ? [] : [...new Set(typeof value === 'string' ? [value] : value)];

/** The `tokenExchange` settings of a `grant: token-exchange` profile; refused on any other grant. */
function tokenExchangeOptions(
  raw: RawProfile,
  grant: Profile['grant'],
  add: (key: string, msg: string) => void,
): TokenExchangeOptions | undefined {
  if (grant !== 'token-exchange') {
    if (raw.tokenExchange !== undefined)
      add(
        'tokenExchange',
        `only grant: token-exchange uses it (this profile's grant is ${grant}); remove it`,
      );
    return undefined;
  }
  for (const name of TOKEN_EXCHANGE_PARAMS)
    if (raw.params !== undefined && Object.hasOwn(raw.params, name))
      add(
        `params.${name}`,
        name.startsWith('actor_')
          ? 'is not sent: the broker exchanges its own JWT without an actor token; remove it'
          : 'is set by the broker for grant: token-exchange; write it under tokenExchange',
      );
  const given = {
    ...PRESETS[(raw.provider ?? 'generic') as ProviderName].tokenExchange?.(providerResource(raw)),
    ...raw.tokenExchange,
  };
  return {
    subjectTokenType: given.subjectTokenType ?? JWT_TOKEN_TYPE,
    requestedTokenType: given.requestedTokenType,
    audience: asList(given.audience),
    resource: asList(given.resource),
  };
}

/**
 * Turns one written profile into a {@link Profile}: the preset's values, then the profile's
 * own keys, then defaults. Problems and warnings are added to `findings` as complete lines.
 *
 * @returns the profile, or undefined when it has problems.
 */
export function normaliseProfile(name: string, raw: RawProfile, findings: Findings): Profile | undefined {
  const before = findings.problems.length;
  const add = (key: string, msg: string) => findings.problems.push(`profile "${name}": ${key}: ${msg}`);
  const warn = (key: string, msg: string) => findings.warnings.push(`profile "${name}": ${key}: ${msg}`);
  const provider = (raw.provider ?? 'generic') as ProviderName;
  const preset = PRESETS[provider];

  if (raw.tenant !== undefined && provider !== 'entra' && provider !== 'entra-federated')
    add('tenant', 'only the entra and entra-federated presets use "tenant"');
  const endpoint: TokenEndpoint | undefined = tokenEndpoint(raw, provider, add);
  const tokenUrl = endpoint ? new URL(endpoint.url) : undefined;

  for (const key of SECRET_KEYS) {
    const value = raw[key];
    const problem = value === undefined ? undefined : certStoreProblem(key, value);
    if (problem) add(key, problem);
  }
  if (raw.certStore !== undefined && isKmsReference(raw.certStore)) {
    for (const key of ['certPassword', 'keyPassword', 'certAlias'] as const)
      if (raw[key] !== undefined) add(key, 'a KMS key has no password or alias; remove it');
  }

  for (const [header, value] of Object.entries(raw.headers ?? {})) {
    const problem = isSecretReference(value) ? referenceProblem(value) : undefined;
    if (problem) add(`headers.${header}`, problem);
  }
  for (const [param, value] of Object.entries(raw.params ?? {})) {
    const problem = isSecretReference(value) ? referenceProblem(value) : undefined;
    if (problem) add(`params.${param}`, problem);
  }

  const redirectUri = optionalUrl('redirectUri', raw.redirectUri, add, checkRedirectUri);
  const authUri =
    optionalUrl('authUri', raw.authUri, add, parseSecureUrl) ??
    (raw.authUri === undefined && tokenUrl ? preset.authUri(tokenUrl) : undefined);
  if (raw.allowPrivateNetwork !== true) {
    // The preset's authUri shares the token URI's host: only a written one is checked apart.
    const written = {
      tokenUri: endpoint?.url,
      redirectUri,
      authUri: raw.authUri === undefined ? undefined : authUri,
    };
    for (const [key, value] of Object.entries(written)) {
      const problem = value === undefined ? undefined : privateNetworkProblem(new URL(value));
      if (problem) add(key, problem);
    }
  }
  const assertion = assertionOptions(raw, provider, add, warn);

  const subjects = raw.subjects ?? (raw.subject !== undefined ? [raw.subject] : []);
  let refresh: Profile['refresh'];
  if (raw.refresh) {
    const refreshSubjects = raw.refresh.subjects ?? (raw.subject !== undefined ? [raw.subject] : []);
    if (refreshSubjects.length === 0) add('refresh.subjects', 'required when the profile has no subject');
    refresh = { subjects: refreshSubjects, before: raw.refresh.before ?? DEFAULT_REFRESH_BEFORE };
  }
  const scopes = splitSpaces(raw.scope ?? preset.defaultScopes);
  const grant = raw.grant ?? preset.grant;
  const tokenExchange = tokenExchangeOptions(raw, grant, add);
  const clientId = raw.clientId ?? raw.issuer;
  const params: Record<string, string> = {
    ...(preset.clientIdParam && grant === 'client-assertion' && { client_id: clientId }),
    ...raw.params,
  };
  if (raw.dpop === 'required' && raw.refresh)
    add(
      'refresh',
      "a DPoP-bound token needs the caller's proof, so the schedule cannot fetch one; remove refresh or set dpop: optional",
    );
  // The consent callback completes the grant itself, with no caller and so no proof.
  if (raw.dpop === 'required' && redirectUri !== undefined)
    add(
      'dpop',
      "required cannot complete a consent step (redirectUri): the consent callback has no caller's DPoP proof to obtain a token with; set dpop: optional (callers with a proof still get DPoP-bound tokens) or remove redirectUri",
    );

  // RFC 7523 §3: a client assertion's aud is the token endpoint unless written otherwise;
  // a subject token is read by the same endpoint (RFC 8693 §2.1), so it is addressed so too.
  const audience =
    raw.audience ??
    (tokenUrl && endpoint ? (grant === 'jwt-bearer' ? preset.audience(tokenUrl) : endpoint.url) : []);
  const keyless = keylessOptions(raw, provider, audience, add);
  // The web identity JWT's subject is the function's role: the profile's own is only a label.
  const subject = keyless.webIdentity !== undefined ? (raw.subject ?? raw.issuer) : raw.subject;

  if (findings.problems.length > before || !endpoint || !tokenUrl) return undefined;
  return {
    name,
    provider,
    issuer: raw.issuer,
    clientId,
    subject,
    subjects: keyless.webIdentity !== undefined && subject !== undefined ? [subject] : subjects,
    tokenUri: endpoint,
    audience,
    scopes,
    scopeIn: raw.scopeIn ?? preset.scopeIn,
    certStore: raw.certStore,
    certStoreType: raw.certStoreType ?? 'auto',
    certPassword: raw.certPassword,
    certAlias: raw.certAlias,
    keyPassword: raw.keyPassword,
    certificate: raw.certificate,
    redirectUri,
    authUri,
    clientSecret: raw.clientSecret,
    headers: raw.headers ?? {},
    grant,
    ...(tokenExchange && { tokenExchange }),
    assertion,
    ...keyless,
    callers: raw.callers ?? [],
    refresh,
    rotation: { tryPending: raw.rotation?.tryPending ?? false },
    consentErrors: uniqueMatchers([
      ...DEFAULT_CONSENT_ERRORS,
      ...preset.consentErrors,
      ...(raw.consentErrors ?? []),
    ]),
    consentScopes:
      raw.consentScopes !== undefined ? splitSpaces(raw.consentScopes) : preset.consentScopes(scopes),
    pkce: raw.pkce ?? preset.pkce,
    responseFields: [...new Set(raw.responseFields ?? preset.responseFields)],
    params,
    tokenType: raw.tokenType ?? 'bearer',
    scopeCheck: raw.scopeCheck ?? 'lenient',
    dpop: raw.dpop ?? 'off',
    notify: notifySettings(raw.notify),
  };
}

/** A profile's `notify` with its defaults; thresholds deduplicated, largest first. */
export function notifySettings(raw: RawProfile['notify']): NotifySettings {
  const email = raw?.email;
  return {
    topicArn: raw?.topicArn,
    email: email === undefined ? [] : typeof email === 'string' ? [email] : [...new Set(email)],
    refreshFailures: raw?.refreshFailures ?? DEFAULT_REFRESH_FAILURES,
    certificateDays: [...new Set(raw?.certificateDays ?? DEFAULT_CERTIFICATE_DAYS)].sort((a, b) => b - a),
    subject: raw?.subject ?? 'plain',
  };
}
