import type { Clock } from '../types.ts';

/**
 * A max-age cache whose concurrent misses share one fetch (the in-flight promise
 * pattern of jose's remote JWKS). A failed fetch is not cached.
 */
export class SharedFetchCache<T> {
  readonly #entries = new Map<string, { value: T; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<T>>();
  readonly #clock: Clock;
  readonly #maxAgeMs: number;

  constructor(clock: Clock, maxAgeMs: number) {
    this.#clock = clock;
    this.#maxAgeMs = maxAgeMs;
  }

  /** Returns the cached value, or runs `fetch` once for all concurrent callers of `key`. */
  get(key: string, fetch: () => Promise<T>): Promise<T> {
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > this.#clock()) return Promise.resolve(hit.value);
    if (hit) this.#entries.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const started = fetch().then(
      (value) => {
        if (this.#inflight.get(key) === started) {
          this.#entries.set(key, { value, expiresAt: this.#clock() + this.#maxAgeMs });
          this.#inflight.delete(key);
        }
        return value;
      },
      (err: unknown) => {
        if (this.#inflight.get(key) === started) this.#inflight.delete(key);
        throw err;
      },
    );
    this.#inflight.set(key, started);
    return started;
  }

  /** Drops `key`, including a fetch in flight (its result will not be stored). */
  delete(key: string): void {
    this.#entries.delete(key);
    this.#inflight.delete(key);
  }
}
