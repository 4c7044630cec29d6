import type { JwsAlgorithm, KeystoreType } from '../keystore/types.ts';

/** Provider presets (docs/configuration.md "Providers and presets"). */
export type ProviderName =
  | 'docusign'
  | 'docusign-demo'
  | 'salesforce'
  | 'salesforce-sandbox'
  | 'google'
  | 'entra'
  | 'okta'
  | 'entra-federated'
  | 'google-wif'
  | 'generic';

/**
 * RFC 7523 §2.1 authorization grant, §2.2 client authentication, or an RFC 8693 token
 * exchange with the signed JWT as the subject token.
 */
export type GrantMode = 'jwt-bearer' | 'client-assertion' | 'token-exchange';

/** RFC 8693 §2.1 settings of a `grant: token-exchange` profile (`tokenExchange`). */
export interface TokenExchangeOptions {
  /** `subject_token_type`; default `urn:ietf:params:oauth:token-type:jwt`. */
  readonly subjectTokenType: string;
  /** `requested_token_type`, when asked; the answer's `issued_token_type` must then match. */
  readonly requestedTokenType: string | undefined;
  /** `audience` values (logical names of the target service), each sent as its own parameter. */
  readonly audience: readonly string[];
  /** `resource` values (absolute URIs without a fragment), each sent as its own parameter. */
  readonly resource: readonly string[];
}

/** `certStore` of a profile with no key: the JWT STS `GetWebIdentityToken` signs for the function's role. */
export const WEB_IDENTITY_STORE = 'aws:web-identity';

/** JWS algorithms STS signs web identity tokens with. */
export type WebIdentityAlgorithm = 'RS256' | 'ES384';

/**
 * A profile's `webIdentity` (docs/keyless.md): the AWS-signed JWT used in place of an
 * assertion signed with a key.
 */
export interface WebIdentityOptions {
  /** The JWT's `aud` values (STS `Audience`). */
  readonly audience: readonly string[];
  readonly algorithm: WebIdentityAlgorithm;
  /** STS `DurationSeconds`, 60 to 3600. */
  readonly lifetime: number;
  /** STS `Tags`, custom claims of the JWT. */
  readonly tags: Readonly<Record<string, string>>;
  /** `keystore`: the profile's keystore key when STS refuses for a reason a key cures. */
  readonly fallback: 'keystore' | undefined;
}

/** A google-wif profile's `impersonate`: the federated token traded for a service account's token. */
export interface ImpersonateOptions {
  readonly serviceAccount: string;
  /** Seconds the service account's token lives (`lifetime` of generateAccessToken). */
  readonly lifetime: number;
  /** The generateAccessToken URL, `{serviceAccount}` already replaced. */
  readonly url: string;
}

/** The token endpoint with its HTTP method (the `GET `/`POST ` prefix; none means POST). */
export interface TokenEndpoint {
  readonly method: 'GET' | 'POST';
  readonly url: string;
}

/** A provider answer that means "the user has not consented yet". */
export interface ConsentErrorMatcher {
  /** RFC 6749 `error` value, e.g. `consent_required`, `invalid_grant`. */
  readonly error: string;
  /** When set, `error_description` must contain this text (case-insensitive). */
  readonly descriptionIncludes?: string;
}

/** Assertion options of a profile. */
export interface AssertionOptions {
  /** Assertion lifetime in seconds (already capped by the preset). */
  readonly lifetime: number;
  /** Seconds `iat`/`nbf` are backdated to absorb clock skew. */
  readonly skew: number;
  readonly algorithm: 'auto' | JwsAlgorithm;
  /** Put `x5t` (SHA-1 thumbprint) in the header. */
  readonly x5t: boolean;
  /** Put `x5t#S256` in the header. */
  readonly x5tS256: boolean;
  /** Put the certificate chain as `x5c` in the header. */
  readonly x5c: boolean;
  /** `kid` header: a literal value, or true to use the key's own id (JWK kid, Google private_key_id). */
  readonly kid: string | boolean;
  /** The JWS `typ` header: `JWT`, or `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis). */
  readonly typ: string;
  /** Extra claims; may not override iss, sub, aud, iat, nbf, exp, jti, scope. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** A validated, frozen profile: DESIGN.md's keys with preset values and defaults applied. */
export interface Profile {
  readonly name: string;
  readonly provider: ProviderName;
  /** ClaimsIssuer: client id / consumer key. */
  readonly issuer: string;
  /** Client id for the consent step; default: issuer. */
  readonly clientId: string;
  /** ClaimsSubject: the default subject. */
  readonly subject: string | undefined;
  /** Subject patterns (`*` wildcard) a caller may ask for; default `[subject]`. */
  readonly subjects: readonly string[];
  readonly tokenUri: TokenEndpoint;
  /** Assertion `aud`; default: the token URI without its prefix. */
  readonly audience: string | readonly string[];
  /** Scopes (the `scope` key split on spaces); empty when none. */
  readonly scopes: readonly string[];
  /** Where scope goes: in the assertion's `scope` claim, or as a form parameter. From the preset. */
  readonly scopeIn: 'assertion' | 'form';
  /** JWTCertStore: secret reference to the key material. */
  readonly certStore: string;
  readonly certStoreType: KeystoreType;
  /** Secret reference to the store password, if any. */
  readonly certPassword: string | undefined;
  readonly certAlias: string | undefined;
  /** Secret reference to the key password, when it differs from the store password. */
  readonly keyPassword: string | undefined;
  /** Secret reference to a certificate kept beside a PEM key, if any. */
  readonly certificate: string | undefined;
  /** RedirectURI for consent; absolute with an explicit port. */
  readonly redirectUri: string | undefined;
  /** Where consent is asked (profile or preset). */
  readonly authUri: string | undefined;
  /** Secret reference to the client secret used only for the consent code exchange. */
  readonly clientSecret: string | undefined;
  /**
   * Extra headers sent to the token endpoint (AuthHeader=SecurityToken and more). A value
   * written as a secret reference (`env:`, `file:`, `secretsmanager:`, `plain:`; test with
   * `isSecretReference` from lib/secrets) is resolved before sending; others are literal.
   */
  readonly headers: Readonly<Record<string, string>>;
  readonly grant: GrantMode;
  /** RFC 8693 settings; present exactly when `grant` is `token-exchange`. */
  readonly tokenExchange?: TokenExchangeOptions;
  readonly assertion: AssertionOptions;
  /**
   * The AWS web identity JWT settings: present for `certStore: aws:web-identity` and for a
   * keystore profile with `webIdentity.fallback: keystore`.
   */
  readonly webIdentity?: WebIdentityOptions;
  /** google-wif's second step, when configured. */
  readonly impersonate?: ImpersonateOptions;
  /** IAM principal / caller patterns allowed to use the profile; empty = nobody. */
  readonly callers: readonly string[];
  /**
   * Key rotation: with `tryPending`, a key the provider rejects is retried once with the
   * AWSPENDING version of a `secretsmanager:` keystore (docs/configuration.md "Key rotation").
   */
  readonly rotation: { readonly tryPending: boolean };
  /** Scheduled refresh, when configured. */
  readonly refresh: { readonly subjects: readonly string[]; readonly before: number } | undefined;
  /** Provider answers that mean consent is needed (from the preset, extendable). */
  readonly consentErrors: readonly ConsentErrorMatcher[];
  /** Scope asked for on the consent page (DocuSign: `signature impersonation`). */
  readonly consentScopes: readonly string[];
  /** Whether the consent step uses PKCE S256. */
  readonly pkce: boolean;
  /** Token response fields passed on to the caller under their own names (never `refresh_token`). */
  readonly responseFields: readonly string[];
  /**
   * Extra token request parameters (form or query), values literal or secret references
   * resolved before sending, like `headers`. Holds `client_id` when the preset sends it.
   */
  readonly params: Readonly<Record<string, string>>;
  /** `bearer`: refuse any other `token_type`; `any`: pass it on as sent. */
  readonly tokenType: 'bearer' | 'any';
  /** A granted scope wider than asked: `lenient` logs a warning, `strict` refuses the token. */
  readonly scopeCheck: 'lenient' | 'strict';
  /**
   * DPoP (RFC 9449) with the caller's own key: `off` refuses a `DPoP` header, `optional`
   * forwards one when sent, `required` refuses a request without one. Default `off`.
   */
  readonly dpop: DpopMode;
  /** Event thresholds and routing; absent means the defaults of lib/config/profile.ts. */
  readonly notify?: NotifySettings;
}

/**
 * A profile's `notify` (lib/events): the thresholds of its events and where the template
 * routes them. Events are sent for every profile; these only tune and route them.
 */
export interface NotifySettings {
  /** SNS topic the template's rule sends this profile's events to. */
  readonly topicArn: string | undefined;
  /** Addresses the template subscribes to a topic of its own for this profile. */
  readonly email: readonly string[];
  /** Consecutive failed scheduled refreshes of one token before `Token Refresh Failed`. */
  readonly refreshFailures: number;
  /** Days before the certificate's expiry at which `Certificate Expiring` fires, descending. */
  readonly certificateDays: readonly number[];
  /** `fingerprint`: events carry `subjectFingerprint` instead of the subject. */
  readonly subject: 'plain' | 'fingerprint';
}

/** A profile's `dpop` setting. */
export type DpopMode = 'off' | 'optional' | 'required';

/** Shared cache settings (DESIGN.md "Top-level settings"). */
export interface CacheSettings {
  readonly store: 'memory' | 'dynamodb';
  readonly table: string;
  /** Local DynamoDB endpoint (dynalite); with one set, a missing table is created. */
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  /** Secret reference to the AES-256 key sealing cached tokens. */
  readonly sealKey: string | undefined;
  /** Seconds before expiry a token counts as stale. */
  readonly refreshMargin: number;
}

/** The whole validated configuration. */
export interface BrokerConfig {
  readonly profiles: Readonly<Record<string, Profile>>;
  readonly cache: CacheSettings;
  readonly consent: {
    /** Secret reference to the HMAC key signing consent `state`. */
    readonly stateKey: string | undefined;
    /** Public base URL of the broker, used to build consent URLs (default: derived from redirectUri). */
    readonly baseUrl: string | undefined;
  };
  readonly server: {
    /** `sha256:<hex>` of an API key -> caller name. Local server only. */
    readonly apiKeys: Readonly<Record<string, string>>;
    /**
     * Local SigV4 verification (tests of the caller client): access key id -> the secret
     * reference of its secret access key and the caller identity (an IAM ARN) it stands for.
     * When set, the local server requires a valid SigV4 signature for `execute-api`.
     */
    readonly sigv4:
      | {
          readonly region: string;
          readonly credentials: Readonly<
            Record<string, { readonly secret: string; readonly caller: string }>
          >;
        }
      | undefined;
  };
  /** Where the config came from (file path), for messages. */
  readonly source: string;
  /**
   * Things the loader changed or doubts, as complete lines (e.g. an assertion lifetime
   * clamped to the provider's limit). `check` prints them.
   */
  readonly warnings?: readonly string[];
}
