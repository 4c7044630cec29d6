import type { GrantMode, TokenEndpoint, TokenExchangeOptions } from '../config/types.ts';

/** RFC 7523 §2.1 grant type. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** RFC 7523 §2.2 client assertion type. */
export const JWT_BEARER_CLIENT_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** What the token request carries besides the assertion. */
export interface TokenRequestParameters {
  readonly grant: GrantMode;
  /** The signed assertion (a credential: never log it). */
  readonly assertion: string;
  readonly scopes: readonly string[];
  /** Whether scope goes in the request (`form`) or only inside the assertion. */
  readonly scopeIn: 'assertion' | 'form';
  /** The profile's `params`, values already resolved (may hold secrets: never log them). */
  readonly extra?: Readonly<Record<string, string>>;
  /** The profile's `tokenExchange` settings; required with `grant: token-exchange`. */
  readonly tokenExchange?: TokenExchangeOptions | undefined;
}

/** RFC 8693 §2.1: the signed JWT as `subject_token`, its type, and the target of the exchange. */
function setTokenExchange(params: URLSearchParams, input: TokenRequestParameters): void {
  const settings = input.tokenExchange;
  if (!settings) throw new TypeError('grant token-exchange needs the tokenExchange settings');
  params.set('grant_type', TOKEN_EXCHANGE_GRANT);
  params.set('subject_token', input.assertion);
  params.set('subject_token_type', settings.subjectTokenType);
  if (settings.requestedTokenType !== undefined)
    params.set('requested_token_type', settings.requestedTokenType);
  for (const audience of settings.audience) params.append('audience', audience);
  for (const resource of settings.resource) params.append('resource', resource);
}

/**
 * The parameters of a token request:
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…` for the §2.1 grant,
 * `grant_type=client_credentials&client_assertion_type=…&client_assertion=…` for §2.2 client
 * authentication, `grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=…`
 * with `subject_token_type` and the optional `requested_token_type`, `audience` and
 * `resource` (each repeated per value) for an RFC 8693 exchange, plus `scope` when the profile places scope in the request, in the order
 * given (RFC 6749 §3.3 makes order irrelevant, but some servers compare the string), and
 * the profile's extra parameters.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1
 */
export function tokenRequestParameters(input: TokenRequestParameters): URLSearchParams {
  const params = new URLSearchParams();
  if (input.grant === 'client-assertion') {
    params.set('grant_type', 'client_credentials');
    params.set('client_assertion_type', JWT_BEARER_CLIENT_ASSERTION);
    params.set('client_assertion', input.assertion);
  } else if (input.grant === 'token-exchange') {
    setTokenExchange(params, input);
  } else {
    params.set('grant_type', JWT_BEARER_GRANT);
    params.set('assertion', input.assertion);
  }
  // Client credentials and token exchange (RFC 8693 §2.1 `scope`) always carry scope in the
  // request (there the JWT authenticates or is exchanged, it does not ask for anything); the
  // §2.1 grant follows the profile.
  const scopeInRequest = input.grant !== 'jwt-bearer' || input.scopeIn === 'form';
  if (scopeInRequest && input.scopes.length > 0) params.set('scope', input.scopes.join(' '));
  for (const [name, value] of Object.entries(input.extra ?? {})) {
    // The schema refuses these names; a programming error must not let one replace the grant.
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

/** Options of {@link sendTokenRequest}. */
export interface SendTokenRequestOptions {
  /** Extra headers (AuthHeader / SecurityToken and the profile's `headers`). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** A DPoP proof (RFC 9449 §5) for the `DPoP` header; it replaces any profile header of that name. */
  readonly dpop?: string | undefined;
}

/**
 * Sends one token request and returns the raw `Response` for
 * {@link processTokenResponse} to validate. POST sends a form-encoded body
 * (RFC 6749 §3.2); a `GET ` endpoint gets the parameters in its query string. Redirects
 * are never followed (`redirect: 'manual'`): a token endpoint that redirects is broken
 * or not the one configured, and following it would hand the assertion to another host.
 *
 * Network failures reject with fetch's own error (a `TypeError`, or an `AbortError` when
 * `signal` fires); the caller classifies them.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export async function sendTokenRequest(
  endpoint: TokenEndpoint,
  params: URLSearchParams,
  options: SendTokenRequestOptions = {},
): Promise<Response> {
  const doFetch = options.fetch ?? fetch;
  const headers = new Headers(options.headers);
  headers.set('accept', 'application/json');
  if (options.dpop !== undefined) headers.set('dpop', options.dpop);
  const init: RequestInit = { method: endpoint.method, headers, redirect: 'manual' };
  if (options.signal) init.signal = options.signal;
  let url = endpoint.url;
  if (endpoint.method === 'GET') {
    const target = new URL(endpoint.url);
    for (const [name, value] of params) target.searchParams.append(name, value);
    url = target.href;
  } else {
    headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    init.body = params.toString();
  }
  return doFetch(url, init);
}
