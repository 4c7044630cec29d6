/**
 * A bound on the proof keys one caller may bring: every new key (RFC 7638 thumbprint) is a
 * new cache key and so one upstream token request, whatever the profile's caching. A
 * caller minting a key per request would otherwise cost one upstream request per request.
 */

/** Distinct proof keys one caller may use per {@link NEW_KEY_WINDOW_MS}, per instance. */
export const MAX_NEW_KEYS_PER_CALLER = 10;
/** The window of {@link MAX_NEW_KEYS_PER_CALLER}, milliseconds. */
export const NEW_KEY_WINDOW_MS = 60_000;
/** Callers tracked at once; past this the least recently seen caller is forgotten. */
export const MAX_TRACKED_CALLERS = 10_000;

/** Proof keys seen per caller in the last window. */
export class NewKeyLimit {
  readonly #callers = new Map<string, Map<string, number>>();
  readonly #max: number;
  readonly #windowMs: number;

  constructor(max: number = MAX_NEW_KEYS_PER_CALLER, windowMs: number = NEW_KEY_WINDOW_MS) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /**
   * Admits `thumbprint` for `caller` at `now`: undefined when it was seen in the window or
   * there is room for it (then it is recorded), else the milliseconds until there is room.
   */
  admit(caller: string, thumbprint: string, now: number): number | undefined {
    const keys = this.#callers.get(caller) ?? new Map<string, number>();
    this.#callers.delete(caller);
    this.#callers.set(caller, keys);
    if (this.#callers.size > MAX_TRACKED_CALLERS) this.#callers.delete(this.#callers.keys().next().value!);
    for (const [key, at] of keys) {
      if (at > now - this.#windowMs) break;
      keys.delete(key);
    }
    if (keys.has(thumbprint)) return undefined;
    if (keys.size >= this.#max) return keys.values().next().value! + this.#windowMs - now;
    keys.set(thumbprint, now);
    return undefined;
  }
}
