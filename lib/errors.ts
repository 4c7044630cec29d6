/**
 * The broker's one error module.
 *
 * Every failure the broker reports is a {@link BrokerError} carrying a stable `code`
 * from {@link ErrorCode}, so callers can `switch (err.code)`. Messages are one line, say
 * what to do, and never contain a secret (password, key bytes, assertion, token).
 * `cause` may hold the underlying error for logs that are known to be safe; it is never
 * serialised into a response.
 */

/** Every stable error code the broker emits. */
export type ErrorCode =
  // keystore
  | 'ERR_KEYSTORE_FORMAT'
  | 'ERR_KEYSTORE_PASSWORD'
  | 'ERR_KEY_PASSWORD'
  | 'ERR_KEYSTORE_INTEGRITY'
  | 'ERR_KEYSTORE_TOO_LARGE'
  | 'ERR_KEYSTORE_TOO_COSTLY'
  | 'ERR_ALIAS_NOT_FOUND'
  | 'ERR_ALIAS_REQUIRED'
  | 'ERR_UNSUPPORTED_KEY'
  | 'ERR_KEY_CERT_MISMATCH'
  // keys held in AWS KMS
  | 'ERR_KMS_ACCESS_DENIED'
  | 'ERR_KMS_UNAVAILABLE'
  | 'ERR_KMS_KEY_STATE'
  // the function's own AWS identity (STS GetWebIdentityToken, keyless profiles)
  | 'ERR_WEB_IDENTITY_DISABLED'
  | 'ERR_WEB_IDENTITY_DENIED'
  | 'ERR_WEB_IDENTITY_REGION'
  | 'ERR_WEB_IDENTITY_THROTTLED'
  | 'ERR_WEB_IDENTITY_UNAVAILABLE'
  // configuration and import
  | 'ERR_CONFIG'
  | 'ERR_CONFIG_NOT_FOUND'
  | 'ERR_CONNECTION_STRING'
  | 'ERR_AUTH_METHOD'
  // secrets
  | 'ERR_SECRET_REFERENCE'
  | 'ERR_SECRET_NOT_FOUND'
  | 'ERR_SECRET_ACCESS_DENIED'
  | 'ERR_SECRET_UNAVAILABLE'
  | 'ERR_SECRET_FIELD'
  // requests and policy
  | 'ERR_INVALID_REQUEST'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_UNKNOWN_PROFILE'
  | 'ERR_FORBIDDEN'
  | 'ERR_SUBJECT_NOT_ALLOWED'
  | 'ERR_SCOPE_NOT_ALLOWED'
  | 'ERR_UNAUTHENTICATED'
  // DPoP (RFC 9449)
  | 'ERR_DPOP_PROOF'
  | 'ERR_USE_DPOP_NONCE'
  | 'ERR_DPOP_LIMIT'
  // upstream (token endpoint)
  | 'ERR_UPSTREAM_REJECTED'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_INVALID_RESPONSE'
  | 'ERR_CONSENT_REQUIRED'
  // consent flow
  | 'ERR_CONSENT_STATE'
  | 'ERR_CONSENT_DENIED'
  | 'ERR_CONSENT_BUSY'
  // shared cache
  | 'ERR_CACHE_UNAVAILABLE'
  // local server (`serve`)
  | 'ERR_LISTEN'
  // anything unexpected
  | 'ERR_INTERNAL';

/** Options shared by every {@link BrokerError}. */
export interface BrokerErrorOptions {
  /** The underlying error, for diagnostics that are known not to carry secrets. */
  cause?: unknown;
  /**
   * Extra fields that are safe to show to the caller this error is for
   * (for example `consent_url`, or a provider's `error` / `error_description`).
   */
  details?: Readonly<Record<string, string | number | boolean | undefined>>;
}

/** Base class of every error the broker reports on purpose. */
export class BrokerError extends Error {
  override readonly name: string = 'BrokerError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, string | number | boolean | undefined>>;

  constructor(code: ErrorCode, message: string, options: BrokerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Key material could not be opened or does not fit the request. */
export class KeystoreError extends BrokerError {
  override readonly name = 'KeystoreError';
}

/** A key held in AWS KMS could not be used. Messages name the key id, never a payload. */
export class KmsError extends BrokerError {
  override readonly name = 'KmsError';
}

/**
 * STS did not give the function a web identity token (docs/keyless.md). Messages name the
 * audience and the STS error, never a token.
 */
export class WebIdentityError extends BrokerError {
  override readonly name = 'WebIdentityError';
}

/** The configuration, a profile or an imported connection string is invalid. */
export class ConfigError extends BrokerError {
  override readonly name = 'ConfigError';
}

/** The local server could not listen on its host and port (busy, not allowed, no such address). */
export class ListenError extends BrokerError {
  override readonly name = 'ListenError';
}

/** A secret reference could not be resolved. Messages name the reference, never the value. */
export class SecretError extends BrokerError {
  override readonly name = 'SecretError';
}

/** The caller's request is malformed, or not allowed by the profile's policy. */
export class RequestError extends BrokerError {
  override readonly name = 'RequestError';
}

/** The token endpoint could not be reached or answered something that is not a token response. */
export class UpstreamError extends BrokerError {
  override readonly name = 'UpstreamError';
}

/** The fields of an RFC 6749 §5.2 error response; never the raw body. */
export interface OAuthErrorFields {
  /** HTTP status of the provider's answer. */
  readonly status: number;
  /** RFC 6749 `error`, e.g. `invalid_grant`. */
  readonly error: string;
  /** RFC 6749 `error_description`, when the provider sent one. */
  readonly errorDescription?: string;
}

/**
 * The provider answered with an OAuth error (RFC 6749 §5.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export class UpstreamRejected extends BrokerError {
  override readonly name = 'UpstreamRejected';
  readonly status: number;
  readonly error: string;
  readonly errorDescription: string | undefined;

  constructor(fields: OAuthErrorFields, message?: string, options: BrokerErrorOptions = {}) {
    super(
      'ERR_UPSTREAM_REJECTED',
      message ??
        `the token endpoint refused the request (HTTP ${fields.status}): ${fields.error}` +
          (fields.errorDescription ? ` (${fields.errorDescription})` : ''),
      {
        ...options,
        details: { error: fields.error, error_description: fields.errorDescription, ...options.details },
      },
    );
    this.status = fields.status;
    this.error = fields.error;
    this.errorDescription = fields.errorDescription;
  }
}

/**
 * The provider needs the user's one-time consent before the JWT grant works.
 * `consentUrl` is the broker's consent-start URL for the profile and subject, when known.
 */
export class ConsentRequired extends BrokerError {
  override readonly name = 'ConsentRequired';
  readonly profile: string;
  readonly subject: string | undefined;
  readonly consentUrl: string | undefined;

  constructor(
    fields: {
      profile: string;
      subject?: string | undefined;
      consentUrl?: string | undefined;
      /** Profile keys that would give it a consent step (`authUri`, `redirectUri`), when missing. */
      missing?: readonly string[] | undefined;
    },
    options: BrokerErrorOptions = {},
  ) {
    const who = fields.subject ? ` for subject "${fields.subject}"` : '';
    const missing = fields.missing ?? [];
    super(
      'ERR_CONSENT_REQUIRED',
      missing.length > 0
        ? `profile "${fields.profile}" needs the user's consent${who} but has no consent step; set ${missing.join(' and ')} (the provider's consent page, the broker's /consent/callback URL), then open the consent URL once`
        : `profile "${fields.profile}" needs the user's consent${who}; open the consent URL once, then retry`,
      { ...options, details: { consent_url: fields.consentUrl, ...options.details } },
    );
    this.profile = fields.profile;
    this.subject = fields.subject;
    this.consentUrl = fields.consentUrl;
  }
}

/**
 * The token endpoint wants a DPoP proof with a nonce (`use_dpop_nonce`): the caller signs a
 * new proof with `nonce` in its `nonce` claim and asks again. HTTP answers carry the nonce
 * in a `DPoP-Nonce` header.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export class DpopNonceRequired extends BrokerError {
  override readonly name = 'DpopNonceRequired';
  readonly nonce: string;

  constructor(nonce: string, options: BrokerErrorOptions = {}) {
    super(
      'ERR_USE_DPOP_NONCE',
      'the token endpoint wants a DPoP nonce; sign a new proof with the DPoP-Nonce response header as its "nonce" claim and ask again',
      options,
    );
    this.nonce = nonce;
  }
}

/** The consent callback could not be accepted (bad, expired, replayed or unbound state). */
export class ConsentError extends BrokerError {
  override readonly name = 'ConsentError';
}

/** True when `value` is a {@link BrokerError}, optionally with the given code. */
export function isBrokerError(value: unknown, code?: ErrorCode): value is BrokerError {
  return value instanceof BrokerError && (code === undefined || value.code === code);
}
