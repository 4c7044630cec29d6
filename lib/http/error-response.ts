/**
 * Turns any error into the API's error response, using the one table in
 * `error-table.ts`. Exposed codes show their message and details; the rest answer
 * `{error, message: "internal error"}` (or the code's generic error) with nothing else.
 */
import { BrokerError, DpopNonceRequired } from '../errors.ts';
import { HTTP_ERRORS, type HttpErrorMapping } from './error-table.ts';
import { jsonResult, type HttpResult } from './event.ts';

/** Message of every non-exposed error body: it says nothing about the cause. */
export const GENERIC_MESSAGES: Readonly<Record<string, string>> = {
  internal: 'internal error',
  key_unavailable:
    "the profile's key material cannot be used (the code says why); the broker's operator can run token-broker check <profile>",
  secret_unavailable: 'a secret the profile needs is unavailable; try again later',
  upstream_unavailable: 'the token service is temporarily unavailable; try again later',
};

/** The mapping for an error: its code's entry, or `ERR_INTERNAL` for anything unexpected. */
export function mappingOf(err: unknown): HttpErrorMapping {
  return err instanceof BrokerError ? HTTP_ERRORS[err.code] : HTTP_ERRORS.ERR_INTERNAL;
}

/**
 * The HTTP response for `err`: `{error, message, ...details}` when exposed,
 * `{error, message: <generic>}` otherwise (plus `code` for a mapping that names it). A 503 whose details carry `retry_after`
 * (seconds) also gets a `Retry-After` header; a {@link DpopNonceRequired} sends its nonce
 * as the `DPoP-Nonce` header (RFC 9449 §8).
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function errorResult(err: unknown): HttpResult {
  const mapping = mappingOf(err);
  if (!(err instanceof BrokerError) || !mapping.expose) {
    const message = GENERIC_MESSAGES[mapping.error] ?? GENERIC_MESSAGES['internal'];
    const named = mapping.namesCode === true && err instanceof BrokerError ? { code: err.code } : {};
    return jsonResult(mapping.status, { error: mapping.error, message, ...named });
  }
  const details: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(err.details)) {
    if (value === undefined || key === 'message') continue;
    // The body's `error` is the API's own code; a provider's `error` goes beside it.
    details[key === 'error' ? 'provider_error' : key] = value;
  }
  // A provider's Retry-After reaches the caller as a header too (RFC 9110 §10.2.3).
  const retryAfter = details['retry_after'];
  const headers: Record<string, string> =
    typeof retryAfter === 'number' && mapping.status === 503 ? { 'Retry-After': String(retryAfter) } : {};
  if (err instanceof DpopNonceRequired) headers['DPoP-Nonce'] = err.nonce;
  return jsonResult(mapping.status, { error: mapping.error, message: err.message, ...details }, headers);
}
