/**
 * Errors the broker client raises. The broker answers errors as JSON `{error, message}`
 * with a stable `error` value (DESIGN.md "HTTP API"); the client turns each into a
 * {@link TokenBrokerError} whose `code` is that value, so callers can `switch (err.code)`.
 */

/** The broker's stable `error` values (DESIGN.md "HTTP API"). */
export type BrokerErrorCode =
  | 'consent_required'
  | 'forbidden'
  | 'unknown_profile'
  | 'invalid_request'
  | 'upstream_rejected'
  | 'upstream_unavailable'
  | 'secret_unavailable'
  | 'use_dpop_nonce'
  | 'key_unavailable'
  | 'internal';

/**
 * Every code a {@link TokenBrokerError} can carry: the broker's own, plus `network` (the
 * broker could not be reached or did not answer in time), `credentials` (no AWS
 * credentials to sign with) and `invalid_response` (an answer that is neither a token nor
 * a broker error, e.g. from a wrong endpoint).
 */
export type TokenBrokerErrorCode = BrokerErrorCode | 'network' | 'credentials' | 'invalid_response';

const BROKER_CODES: ReadonlySet<string> = new Set<BrokerErrorCode>([
  'consent_required',
  'forbidden',
  'unknown_profile',
  'invalid_request',
  'upstream_rejected',
  'upstream_unavailable',
  'secret_unavailable',
  'use_dpop_nonce',
  'key_unavailable',
  'internal',
]);

/** Fields of a {@link TokenBrokerError} besides its code and message. */
export interface TokenBrokerErrorFields {
  /** HTTP status of the broker's answer; undefined for `network`. */
  readonly status?: number | undefined;
  /** For `consent_required`: the broker URL a user opens once to grant consent. */
  readonly consentUrl?: string | undefined;
  /** For `upstream_rejected`: the provider's RFC 6749 `error` (body field `provider_error`), e.g. `invalid_grant`. */
  readonly upstreamError?: string | undefined;
  /** For `upstream_rejected`: the provider's `error_description`, when it sent one. */
  readonly upstreamErrorDescription?: string | undefined;
  /** Seconds the broker asked to wait before asking again (its `Retry-After` header). */
  readonly retryAfter?: number | undefined;
  /** For `invalid_request` about a DPoP proof: the `htm` the provider's token endpoint wants. */
  readonly dpopHtm?: string | undefined;
  /** For `invalid_request` about a DPoP proof: the `htu` (the provider's token endpoint). */
  readonly dpopHtu?: string | undefined;
  /** For `use_dpop_nonce`: the provider's nonce, from the `DPoP-Nonce` header. */
  readonly dpopNonce?: string | undefined;
  readonly cause?: unknown;
}

/** A token request failed. `code` is stable; `message` says what to do and carries no secret. */
export class TokenBrokerError extends Error {
  override readonly name = 'TokenBrokerError';
  readonly code: TokenBrokerErrorCode;
  readonly status: number | undefined;
  readonly consentUrl: string | undefined;
  readonly upstreamError: string | undefined;
  readonly upstreamErrorDescription: string | undefined;
  /** Seconds to wait before asking again, when the broker said (`Retry-After`); the client waits that long itself. */
  readonly retryAfter: number | undefined;
  readonly dpopHtm: string | undefined;
  readonly dpopHtu: string | undefined;
  readonly dpopNonce: string | undefined;

  constructor(code: TokenBrokerErrorCode, message: string, fields: TokenBrokerErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.code = code;
    this.status = fields.status;
    this.consentUrl = fields.consentUrl;
    this.upstreamError = fields.upstreamError;
    this.upstreamErrorDescription = fields.upstreamErrorDescription;
    this.retryAfter = fields.retryAfter;
    this.dpopHtm = fields.dpopHtm;
    this.dpopHtu = fields.dpopHtu;
    this.dpopNonce = fields.dpopNonce;
  }
}

const MAX_TEXT = 300;

/** One line, bounded: broker and gateway messages are shown, never trusted to be short. */
function oneLine(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const line = value.replace(/\s+/g, ' ').trim();
  return line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT)}…` : line;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The code for an error answer that carries no broker `error` value: API Gateway's own
 * answers (`{"message":"Forbidden"}` when IAM authorization fails, 503 when the function
 * times out) or anything else in front of the broker.
 */
function codeForStatus(status: number): TokenBrokerErrorCode {
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 400 || status === 413) return 'invalid_request';
  if (status === 503 || status === 504) return 'upstream_unavailable';
  if (status >= 500) return 'internal';
  return 'invalid_response';
}

/** Longest `Retry-After` the client honours, seconds (one hour); longer values are capped. */
export const MAX_RETRY_AFTER = 3600;

/**
 * Seconds a `Retry-After` header asks for (delay-seconds or an HTTP date, RFC 9110
 * §10.2.3), capped at {@link MAX_RETRY_AFTER}; undefined when absent or unreadable.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function retryAfterSeconds(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const seconds = /^\d+$/.test(value) ? Number(value) : Math.ceil((Date.parse(value) - now) / 1000);
  if (!Number.isFinite(seconds)) return undefined;
  return Math.min(Math.max(0, seconds), MAX_RETRY_AFTER);
}

/** RFC 9449 §8.1 `nonce = 1*NQCHAR`, bounded. */
const DPOP_NONCE = /^[\x21\x23-\x5b\x5d-\x7e]{1,1024}$/;

/** A `DPoP-Nonce` header value when it is a valid nonce (RFC 9449 §8.1), else undefined. */
export function dpopNonceOf(header: string | null | undefined): string | undefined {
  return header && DPOP_NONCE.test(header) ? header : undefined;
}

/**
 * Builds the error for a non-2xx answer from its status and parsed JSON body (or
 * undefined when the body was not JSON), and its `DPoP-Nonce` header.
 */
export function errorFromResponse(
  status: number,
  body: unknown,
  retryAfter?: number,
  dpopNonce?: string | null,
): TokenBrokerError {
  const error = errorOf(status, body, dpopNonce);
  if (retryAfter === undefined) return error;
  return new TokenBrokerError(error.code, error.message, {
    status: error.status,
    consentUrl: error.consentUrl,
    upstreamError: error.upstreamError,
    upstreamErrorDescription: error.upstreamErrorDescription,
    dpopHtm: error.dpopHtm,
    dpopHtu: error.dpopHtu,
    dpopNonce: error.dpopNonce,
    retryAfter,
  });
}

function errorOf(status: number, body: unknown, dpopNonce?: string | null): TokenBrokerError {
  const fields = isRecord(body) ? body : {};
  const error = typeof fields['error'] === 'string' ? fields['error'] : undefined;
  const message = oneLine(fields['message']);

  if (error !== undefined && BROKER_CODES.has(error)) {
    const code = error as BrokerErrorCode;
    const consentUrl = code === 'consent_required' ? oneLine(fields['consent_url']) : undefined;
    const upstream = code === 'upstream_rejected';
    return new TokenBrokerError(code, message ?? `the broker answered HTTP ${status} ${code}`, {
      status,
      consentUrl,
      upstreamError: upstream ? oneLine(fields['provider_error']) : undefined,
      upstreamErrorDescription: upstream ? oneLine(fields['error_description']) : undefined,
      dpopHtm: code === 'invalid_request' ? oneLine(fields['dpop_htm']) : undefined,
      dpopHtu: code === 'invalid_request' ? oneLine(fields['dpop_htu']) : undefined,
      dpopNonce: code === 'use_dpop_nonce' && dpopNonce && DPOP_NONCE.test(dpopNonce) ? dpopNonce : undefined,
    });
  }
  // A 502 whose `error` is not one of the broker's values (a gateway in front of the
  // broker, or an older broker) carries the provider's own RFC 6749 §5.2 `error` there.
  if (error !== undefined && status === 502) {
    return new TokenBrokerError(
      'upstream_rejected',
      message ?? `the token endpoint refused the request: ${oneLine(error) ?? 'unknown error'}`,
      {
        status,
        upstreamError: oneLine(error),
        upstreamErrorDescription: oneLine(fields['error_description']),
      },
    );
  }
  const code = codeForStatus(status);
  const said = message ? `: ${message}` : '';
  const hint =
    code === 'forbidden'
      ? '; check the IAM credentials and that the caller may invoke the API'
      : code === 'invalid_response'
        ? '; check the endpoint points at the broker'
        : '';
  return new TokenBrokerError(code, `the broker endpoint answered HTTP ${status}${said}${hint}`, {
    status,
  });
}
