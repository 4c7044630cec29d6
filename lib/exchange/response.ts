import { UpstreamError, UpstreamRejected } from '../errors.ts';
import { providerText } from '../text.ts';

/** `expires_in` assumed when the provider sends none (Salesforce, for one): one hour. */
export const DEFAULT_EXPIRES_IN = 3600;
/**
 * Largest `expires_in` believed, in seconds (24 h). Larger values (a provider sending
 * milliseconds, or 1e12) are capped, not rejected: the broker then only refreshes earlier
 * than it had to, which is harmless, while rejecting would fail every request.
 */
export const MAX_EXPIRES_IN = 86_400;
/**
 * Smallest `expires_in` accepted, in seconds (10). A token answered with less has no
 * usable life: by the time it reaches the caller and the caller's request reaches the
 * resource server (each a network hop, plus the usual second or two of clock difference
 * between provider and resource server) it is expired or nearly so, and the cache, which
 * serves a short-lived token for half its life, would go back to the provider every few
 * seconds. Such an answer (`0`, `"0"`, `9`) is refused as `ERR_UPSTREAM_INVALID_RESPONSE`
 * rather than floored: flooring would hand out, and cache, a token the provider itself
 * says is dead.
 */
export const MIN_TOKEN_LIFETIME_S = 10;
/** Largest response body read, in bytes (64 KiB); a token response is a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Longest `error_description` kept, in characters. */
const MAX_DESCRIPTION = 300;
/** Longest text value of a passed-on provider field (`responseFields`), in characters. */
export const MAX_FIELD_CHARS = 8192;

/** A provider field passed on to the caller (`responseFields`). */
export type ResponseFieldValue = string | number | boolean;

/** How {@link processTokenResponse} reads an answer. */
export interface ProcessOptions {
  /** Credentials just sent (the assertion): redacted from any provider text. */
  readonly known?: readonly string[];
  /** `bearer` (default): any other `token_type` is refused; `any`: passed on as sent. */
  readonly tokenType?: 'bearer' | 'any';
  /** Fields of the answer to keep, by name (never `refresh_token`). */
  readonly responseFields?: readonly string[];
  /** The request carried a DPoP proof (RFC 9449 §5): `token_type` must be `DPoP`. */
  readonly dpop?: boolean;
  /**
   * The request was an RFC 8693 token exchange: `issued_token_type` is required, and must be
   * `requestedTokenType` when one was asked.
   */
  readonly tokenExchange?: { readonly requestedTokenType: string | undefined };
}

/** RFC 8693 §2.2.1 `token_type` of an issued token that is not an access token. */
export const NOT_AN_ACCESS_TOKEN = 'N_A';

/**
 * The `issued_token_type` of a token exchange answer (RFC 8693 §2.2.1): present, and the
 * type asked for when the request named one.
 *
 * @throws UpstreamError `ERR_UPSTREAM_INVALID_RESPONSE`
 */
function checkIssuedTokenType(
  response: Response,
  body: Record<string, unknown>,
  requested: string | undefined,
  known: readonly string[],
): void {
  const issued = body['issued_token_type'];
  if (typeof issued !== 'string' || issued === '')
    throw new UpstreamError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `the token endpoint answered a token exchange without an issued_token_type string (${describe(response)}), which RFC 8693 §2.2.1 requires; check that tokenUri is a token exchange endpoint`,
      { details: { status: response.status } },
    );
  if (requested !== undefined && issued !== requested)
    throw new UpstreamError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `the token endpoint issued a token of type "${providerText(issued, 120, known)}", not the "${requested}" requested (${describe(response)}); set tokenExchange.requestedTokenType to a type the provider issues`,
      { details: { status: response.status } },
    );
}

/** A validated RFC 6749 §5.1 token response. `accessToken` is secret: never log it. */
export interface TokenResponse {
  readonly accessToken: string;
  /** `Bearer` normalised from any case; other types as sent. */
  readonly tokenType: string;
  /** Seconds, after defaulting and capping. */
  readonly expiresIn: number;
  readonly scope: string | undefined;
  /** The allowlisted provider fields present in the answer (strings, numbers, booleans). */
  readonly fields: Readonly<Record<string, ResponseFieldValue>>;
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

// Provider text ends up in one-line messages and logs: credentials redacted, no control
// characters, bounded.
const clean = (text: string, known: readonly string[]): string => providerText(text, MAX_DESCRIPTION, known);

/**
 * The RFC 6749 §5.2 fields of an error body, or undefined when it is not one. JWS/JWT-shaped
 * text and anything equal to `known` (the assertion sent) become `[redacted]`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function oauthError(
  status: number,
  body: Record<string, unknown> | undefined,
  known: readonly string[] = [],
): UpstreamRejected | undefined {
  if (!body || typeof body['error'] !== 'string' || body['error'] === '') return undefined;
  const description = body['error_description'];
  return new UpstreamRejected({
    status,
    error: clean(body['error'], known),
    errorDescription:
      typeof description === 'string' && description !== '' ? clean(description, known) : undefined,
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
  const whole = Math.floor(seconds);
  if (whole < MIN_TOKEN_LIFETIME_S)
    throw invalid(
      response,
      `an expires_in of ${whole} s, below the ${MIN_TOKEN_LIFETIME_S} s a token must live to be of use`,
    );
  return Math.min(whole, MAX_EXPIRES_IN);
}

/**
 * Validates a token endpoint answer field by field.
 *
 * - 200 with a JSON object: `access_token` a non-empty string, `token_type` `Bearer` in any
 *   case (normalised; another type only with `tokenType: 'any'`), `expires_in` a number or numeric string of
 *   at least {@link MIN_TOKEN_LIFETIME_S} (absent: {@link DEFAULT_EXPIRES_IN}; above
 *   {@link MAX_EXPIRES_IN}: capped), `scope` a
 *   string when present; the `responseFields` kept in `fields`. For an RFC 8693 exchange
 *   (`tokenExchange`), `issued_token_type` must be a string, and the requested type when
 *   one was asked; `token_type` `N_A` (not an access token) needs `tokenType: 'any'` too. For a request with a DPoP
 *   proof (`dpop`), `token_type` must be `DPoP` (any case; RFC 9449 §5): a Bearer token
 *   would not be bound to the caller's key.
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
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2
 */
export async function processTokenResponse(
  response: Response,
  options: ProcessOptions = {},
): Promise<TokenResponse> {
  const known = options.known ?? [];
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel().catch(() => undefined);
    const where = response.headers.get('location') ? ' redirect' : ' redirect without a location';
    throw invalid(response, `a${where}, which is not followed`);
  }
  const text = await readCappedBody(response);
  const body = parseJsonObject(text);
  if (response.status !== 200) {
    const rejected = oauthError(response.status, body, known);
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
    const rejected = oauthError(response.status, body, known);
    if (rejected) throw rejected;
    throw invalid(response, 'no access_token string');
  }
  if (options.tokenExchange)
    checkIssuedTokenType(response, body, options.tokenExchange.requestedTokenType, known);
  const tokenType = body['token_type'];
  if (typeof tokenType !== 'string' || tokenType === '') throw invalid(response, 'no token_type string');
  const bearer = tokenType.toLowerCase() === 'bearer';
  if (options.dpop === true && tokenType.toLowerCase() !== 'dpop')
    throw invalid(
      response,
      `token_type "${providerText(tokenType, 40, known)}" to a request with a DPoP proof (expected DPoP: check that the client may use DPoP)`,
    );
  if (options.dpop !== true && tokenType === NOT_AN_ACCESS_TOKEN && options.tokenType !== 'any')
    throw new UpstreamError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `the token endpoint answered token_type "N_A" (${describe(response)}): the issued token is not an access token (RFC 8693 §2.2.1); set tokenType: any on the profile if callers can use it`,
      { details: { status: response.status } },
    );
  if (options.dpop !== true && !bearer && options.tokenType !== 'any')
    throw new UpstreamError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `the token endpoint answered token_type "${providerText(tokenType, 40, known)}", not Bearer (${describe(response)}); set tokenType: any on the profile if callers can use it`,
      { details: { status: response.status } },
    );
  const scope = body['scope'];
  if (scope !== undefined && scope !== null && typeof scope !== 'string')
    throw invalid(response, 'a scope that is not a string');
  return {
    accessToken,
    tokenType: options.dpop === true ? 'DPoP' : bearer ? 'Bearer' : providerText(tokenType, 40, known),
    expiresIn: expiresIn(response, body['expires_in']),
    scope: typeof scope === 'string' && scope !== '' ? scope : undefined,
    fields: passedOn(body, options.responseFields ?? []),
  };
}

/**
 * The allowlisted fields of a token answer: strings (at most {@link MAX_FIELD_CHARS}),
 * finite numbers and booleans. Other shapes (objects, arrays, null, huge strings) are left
 * out rather than failing the token. `refresh_token` is never kept, whatever the list says.
 */
function passedOn(
  body: Record<string, unknown>,
  names: readonly string[],
): Record<string, ResponseFieldValue> {
  const fields: Record<string, ResponseFieldValue> = {};
  for (const name of names) {
    if (name === 'refresh_token' || !Object.hasOwn(body, name)) continue;
    const value = body[name];
    if (typeof value === 'string' ? value.length <= MAX_FIELD_CHARS : typeof value === 'boolean')
      fields[name] = value as string | boolean;
    else if (typeof value === 'number' && Number.isFinite(value)) fields[name] = value;
  }
  return fields;
}
