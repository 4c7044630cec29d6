import type { ErrorCode } from '../errors.ts';

/** How one error code is shown to an HTTP caller. */
export interface HttpErrorMapping {
  /** HTTP status code. */
  readonly status: number;
  /** The API's stable `error` value (DESIGN.md, "HTTP API"). */
  readonly error: string;
  /** Whether the message and details may be shown to the caller; when false the body is generic. */
  readonly expose: boolean;
  /**
   * A generic body that still names the broker's code (`code: "ERR_KEYSTORE_PASSWORD"`): the
   * caller can tell a misconfigured profile from a bug, and learns nothing beyond the code.
   */
  readonly namesCode?: true;
}

const map = (status: number, error: string, expose = true): HttpErrorMapping => ({ status, error, expose });
/**
 * The profile's key material cannot be used: 500 `key_unavailable` with the code. 500, not
 * 503: the operator must fix the profile or its secret, and a retry does not help.
 */
const keyUnavailable = (): HttpErrorMapping => ({
  status: 500,
  error: 'key_unavailable',
  expose: false,
  namesCode: true,
});

/**
 * The one `code -> {status, error, expose}` table. Every HTTP response for an error is
 * derived from it; 5xx other than the documented upstream/secret codes carry no details.
 */
export const HTTP_ERRORS: Readonly<Record<ErrorCode, HttpErrorMapping>> = {
  ERR_INVALID_REQUEST: map(400, 'invalid_request'),
  ERR_BODY_TOO_LARGE: map(413, 'invalid_request'),
  ERR_UNSUPPORTED_MEDIA_TYPE: map(415, 'unsupported_media_type'),
  ERR_UNAUTHENTICATED: map(403, 'forbidden'),
  ERR_DPOP_PROOF: map(400, 'invalid_request'),
  ERR_USE_DPOP_NONCE: map(400, 'use_dpop_nonce'),
  // Like ERR_CONSENT_BUSY: a bound of this instance, retried after `retry_after` seconds.
  ERR_DPOP_LIMIT: map(503, 'upstream_unavailable'),
  ERR_FORBIDDEN: map(403, 'forbidden'),
  ERR_SUBJECT_NOT_ALLOWED: map(403, 'forbidden'),
  ERR_SCOPE_NOT_ALLOWED: map(403, 'forbidden'),
  ERR_UNKNOWN_PROFILE: map(404, 'unknown_profile'),
  ERR_CONSENT_REQUIRED: map(409, 'consent_required'),
  ERR_UPSTREAM_REJECTED: map(502, 'upstream_rejected'),
  ERR_UPSTREAM_INVALID_RESPONSE: map(502, 'upstream_rejected'),
  ERR_UPSTREAM_UNAVAILABLE: map(503, 'upstream_unavailable'),
  ERR_UPSTREAM_TIMEOUT: map(503, 'upstream_unavailable'),
  ERR_SECRET_UNAVAILABLE: map(503, 'secret_unavailable', false),
  ERR_SECRET_NOT_FOUND: map(503, 'secret_unavailable', false),
  ERR_SECRET_ACCESS_DENIED: map(503, 'secret_unavailable', false),
  ERR_SECRET_FIELD: map(503, 'secret_unavailable', false),
  ERR_SECRET_REFERENCE: map(503, 'secret_unavailable', false),
  ERR_KMS_UNAVAILABLE: map(503, 'secret_unavailable', false),
  // Like KMS: STS standing in for the key is out of reach for now, a retry may help.
  ERR_WEB_IDENTITY_THROTTLED: map(503, 'secret_unavailable', false),
  ERR_WEB_IDENTITY_UNAVAILABLE: map(503, 'secret_unavailable', false),
  ERR_CACHE_UNAVAILABLE: map(503, 'upstream_unavailable', false),
  ERR_CONSENT_STATE: map(400, 'invalid_request'),
  ERR_CONSENT_DENIED: map(400, 'invalid_request'),
  ERR_CONSENT_BUSY: map(503, 'upstream_unavailable'),
  // Key material and configuration problems are operator errors: the caller learns the code
  // of a key that cannot be used (to tell it from a bug), nothing more.
  ERR_KEYSTORE_FORMAT: keyUnavailable(),
  ERR_KEYSTORE_PASSWORD: keyUnavailable(),
  ERR_KEY_PASSWORD: keyUnavailable(),
  ERR_KEYSTORE_INTEGRITY: keyUnavailable(),
  ERR_KEYSTORE_TOO_LARGE: keyUnavailable(),
  ERR_KEYSTORE_TOO_COSTLY: keyUnavailable(),
  ERR_ALIAS_NOT_FOUND: keyUnavailable(),
  ERR_ALIAS_REQUIRED: keyUnavailable(),
  ERR_UNSUPPORTED_KEY: keyUnavailable(),
  ERR_KEY_CERT_MISMATCH: keyUnavailable(),
  ERR_KMS_ACCESS_DENIED: keyUnavailable(),
  ERR_KMS_KEY_STATE: keyUnavailable(),
  // The account or role must be changed before a keyless profile works: operator errors.
  ERR_WEB_IDENTITY_DISABLED: keyUnavailable(),
  ERR_WEB_IDENTITY_DENIED: keyUnavailable(),
  ERR_WEB_IDENTITY_REGION: keyUnavailable(),
  ERR_CONFIG: map(500, 'internal', false),
  ERR_CONFIG_NOT_FOUND: map(500, 'internal', false),
  ERR_LISTEN: map(500, 'internal', false),
  ERR_CONNECTION_STRING: map(400, 'invalid_request'),
  ERR_AUTH_METHOD: map(400, 'invalid_request'),
  ERR_INTERNAL: map(500, 'internal', false),
};
