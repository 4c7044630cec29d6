/**
 * Token endpoint client in oauth4webapi's shape: {@link sendTokenRequest} returns the raw
 * `Response`, {@link processTokenResponse} validates it, {@link exchangeToken} adds retries,
 * timeouts, skew correction and consent mapping.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2
 */
export {
  JWT_BEARER_CLIENT_ASSERTION,
  JWT_BEARER_GRANT,
  TOKEN_EXCHANGE_GRANT,
  sendTokenRequest,
  tokenRequestParameters,
} from './request.ts';
export type { SendTokenRequestOptions, TokenRequestParameters } from './request.ts';
export {
  DEFAULT_EXPIRES_IN,
  MAX_EXPIRES_IN,
  MIN_TOKEN_LIFETIME_S,
  MAX_FIELD_CHARS,
  MAX_RESPONSE_BYTES,
  NOT_AN_ACCESS_TOKEN,
  oauthError,
  processTokenResponse,
  readCappedBody,
} from './response.ts';
export type { ProcessOptions, ResponseFieldValue, TokenResponse } from './response.ts';
export {
  ATTEMPT_TIMEOUT_MS,
  BACKOFF_BASE_MS,
  DEADLINE_MS,
  MAX_ATTEMPTS,
  MAX_CALLER_RETRY_AFTER,
  MAX_RETRY_DELAY_MS,
  backoffMs,
  retryAfterMs,
} from './retry.ts';
export { exchangeToken, isConsentError } from './exchange.ts';
export {
  SKEW_MEMORY_ENTRIES,
  SKEW_MEMORY_MS,
  SKEW_MESSAGES,
  SKEW_THRESHOLD_MS,
  SkewMemory,
  isSkewRejection,
} from './skew.ts';
export { grantedBeyond } from './scope.ts';
export type { ExchangeInput, ExchangeResult, ExchangeSettings } from './exchange.ts';
