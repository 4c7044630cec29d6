/** Most attempts per token request (the first one included). */
export const MAX_ATTEMPTS = 3;
/**
 * Default time allowed for one attempt, milliseconds: a provider that takes 12 s still
 * answers, and a hung first attempt leaves one retry 10 s inside {@link DEADLINE_MS}.
 */
export const ATTEMPT_TIMEOUT_MS = 15_000;
/** Default time allowed for all attempts together, milliseconds. */
export const DEADLINE_MS = 25_000;
/** First backoff step, milliseconds; doubled on each retry. */
export const BACKOFF_BASE_MS = 200;
/** Longest backoff between attempts, milliseconds (a Retry-After is waited in full when it fits). */
export const MAX_RETRY_DELAY_MS = 5_000;

/** Whether an HTTP status is worth another attempt: 5xx and 429 only. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

/**
 * Milliseconds a `Retry-After` header asks for: delay-seconds or an HTTP date
 * (RFC 9110 §10.2.3), measured against `now`. Undefined when absent or unreadable.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Backoff before attempt `attempt + 1` (attempt counts from 1): exponential with "equal
 * jitter" (half fixed, half random) so that callers that failed together do not retry together.
 */
export function backoffMs(attempt: number, random: () => number): number {
  const step = BACKOFF_BASE_MS * 2 ** (attempt - 1);
  return Math.round(step / 2 + (step / 2) * random());
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Longest `Retry-After` passed on to the broker's caller, seconds (one hour): a provider
 * asking for days (or 999999 s) is told on as one hour, and the caller asks again then.
 */
export const MAX_CALLER_RETRY_AFTER = 3600;
