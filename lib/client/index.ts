/**
 * `token-broker/client`: the caller's half of the broker. Signs `POST /token` with SigV4
 * for `execute-api`, keeps tokens in memory and raises {@link TokenBrokerError}s with the
 * broker's stable codes.
 */
export {
  DEFAULT_MIN_TTL,
  DEFAULT_TIMEOUT_MS,
  TokenBrokerClient,
  tokenFingerprint,
  type BrokerToken,
  type GetTokenRequest,
  type TokenBrokerClientOptions,
} from './client.ts';
export {
  MAX_RETRY_AFTER,
  TokenBrokerError,
  type BrokerErrorCode,
  type TokenBrokerErrorCode,
  type TokenBrokerErrorFields,
} from './errors.ts';
