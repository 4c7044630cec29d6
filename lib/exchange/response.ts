import { UpstreamError, UpstreamRejected } from '../errors.ts';
import { oneLineText } from '../text.ts';

/** `expires_in` assumed when the provider sends none (Salesforce, for one): one hour. */
export const DEFAULT_EXPIRES_IN = 3600;
/**
 * Largest `expires_in` believed, in seconds (24 h). Larger values (a provider sending
 * milliseconds, or 1e12) are capped, not rejected: the broker then only refreshes earlier
 * than it had to, which is harmless, while rejecting would fail every request.
 */
export const MAX_EXPIRES_IN = 86_400;
/** Largest response body read, in bytes (64 KiB); a token response is a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest `error_description` kept, in characters. */
const MAX_DESCRIPTION = 300;

/** A validated RFC 6749 §5.1 token response. `accessToken` is secret: never log it. */
export interface TokenResponse {
  readonly accessToken: string;
  /** `Bearer` normalised from any case; other types as sent. */
  readonly tokenType: string;
  /** Seconds, after defaulting and capping. */
  readonly expiresIn: number;
  readonly scope: string | undefined;
}

function describe(response: Response): string {
  const type = response.headers.get('content-type') ?? 'no content type';
  return `HTTP ${response.status}, ${type.split(';')[0]!.trim() || 'no content type'}`;
}

function invalid(response: Response, what: string, cause?: unknown): UpstreamError {
  return new UpstreamError(
    'ERR_UPSTREAM_INVALID_RESPONSE',
    `the token endpoint answered ${what} (${describe(response)}); check the profile's tokenUri`,
    { cause, details: { status: response.status } },
  );
}

/**
 * Reads the body, stopping (and cancelling the stream) past `limit` bytes.
 *
 * @throws UpstreamError `ERR_UPSTREAM_INVALID_RESPONSE` when the body is larger.
 */
export async function readCappedBody(response: Response, limit = MAX_RESPONSE_BYTES): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw invalid(response, `a body larger than ${limit} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw invalid(response, `a body larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// Provider text ends up in one-line messages and logs: no control characters, bounded.
const clean = (text: string): string => oneLineText(text, MAX_DESCRIPTION);

/**
 * The RFC 6749 §5.2 fields of an error body, or undefined when it is not one.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function oauthError(
  status: number,
  body: Record<string, unknown> | undefined,
): UpstreamRejected | undefined {
  if (!body || typeof body['error'] !== 'string' || body['error'] === '') return undefined;
  const description = body['error_description'];
  return new UpstreamRejected({
    status,
    error: clean(body['error']),
    errorDescription: typeof description === 'string' && description !== '' ? clean(description) : undefined,
  });
}

function expiresIn(response: Response, value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_EXPIRES_IN;
  const seconds =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isFinite(seconds) || seconds < 0)
    throw invalid(response, 'an expires_in that is not a number ≥ 0');
  return Math.min(Math.floor(seconds), MAX_EXPIRES_IN);
}

/**
 * Validates a token endpoint answer field by field.
 *
 * - 200 with a JSON object: `access_token` a non-empty string, `token_type` a string
 *   (`bearer` in any case becomes `Bearer`), `expires_in` a number or numeric string ≥ 0
 *   (absent: {@link DEFAULT_EXPIRES_IN}; above {@link MAX_EXPIRES_IN}: capped), `scope` a
 *   string when present. For a request with a DPoP proof (`dpop`), `token_type` must
 *   be `DPoP` (any case; RFC 9449 §5): a Bearer token would not be bound to the caller's key.
 * - an RFC 6749 §5.2 error body (any 4xx/5xx status): {@link UpstreamRejected}.
 * - 5xx or 429 without one: `ERR_UPSTREAM_UNAVAILABLE`.
 * - anything else (a redirect, HTML, truncated JSON, a missing field, a body over
 *   {@link MAX_RESPONSE_BYTES}): `ERR_UPSTREAM_INVALID_RESPONSE` naming the status and
 *   content type, never the body.
 *
 * @throws UpstreamRejected `ERR_UPSTREAM_REJECTED`
 * @throws UpstreamError `ERR_UPSTREAM_INVALID_RESPONSE`, `ERR_UPSTREAM_UNAVAILABLE`
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export async function processTokenResponse(
  response: Response,
  options: { readonly dpop?: boolean } = {},
): Promise<TokenResponse> {
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel().catch(() => undefined);
    const where = response.headers.get('location') ? ' redirect' : ' redirect without a location';
    throw invalid(response, `a${where}, which is not followed`);
  }
  const text = await readCappedBody(response);
  const body = parseJsonObject(text);
  if (response.status !== 200) {
    const rejected = oauthError(response.status, body);
    if (rejected) throw rejected;
    if (response.status >= 500 || response.status === 429)
      throw new UpstreamError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `the token endpoint is unavailable (${describe(response)}); retry later`,
        { details: { status: response.status } },
      );
    throw invalid(response, 'an error that is not an OAuth error response');
  }
  if (!body)
    throw invalid(response, text.trim() === '' ? 'an empty body' : 'a body that is not a JSON object');
  const accessToken = body['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') {
    // Some providers send §5.2 errors with status 200.
    const rejected = oauthError(response.status, body);
    if (rejected) throw rejected;
    throw invalid(response, 'no access_token string');
  }
  const tokenType = body['token_type'];
  if (typeof tokenType !== 'string' || tokenType === '') throw invalid(response, 'no token_type string');
  if (options.dpop === true && tokenType.toLowerCase() !== 'dpop')
    throw invalid(
      response,
      `token_type "${clean(tokenType)}" to a request with a DPoP proof (expected DPoP: check that the client may use DPoP)`,
    );
  const scope = body['scope'];
  if (scope !== undefined && scope !== null && typeof scope !== 'string')
    throw invalid(response, 'a scope that is not a string');
  return {
    accessToken,
    tokenType: options.dpop === true ? 'DPoP' : tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType,
    expiresIn: expiresIn(response, body['expires_in']),
    scope: typeof scope === 'string' && scope !== '' ? scope : undefined,
  };
}
