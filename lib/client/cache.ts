/**
 * The client's in-memory token cache and its shared in-flight requests: concurrent
 * callers asking for the same key await one request to the broker.
 */

/** A token as the client keeps it; `expiresAt` is epoch milliseconds on the client's clock. */
export interface HeldToken {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly expiresAt: number;
  readonly scope: string | undefined;
  /** Provider fields the broker passed on (`responseFields`), e.g. Salesforce's `instance_url`. */
  readonly fields?: Readonly<Record<string, string | number | boolean>>;
}

/** How many tokens one client keeps at most; the soonest to expire goes first. */
const MAX_CACHED_TOKENS = 500;

/** Scope tokens split on whitespace, without duplicates, sorted; empty when none. */
export function normalizeScope(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  return [...new Set(scope.split(/\s+/).filter((s) => s !== ''))].sort();
}

/**
 * The cache key of a request: profile, subject, the sorted scope set and, for DPoP-bound
 * tokens, the thumbprint of the key they are bound to.
 */
export function cacheKey(
  profile: string,
  subject: string | undefined,
  scopes: readonly string[],
  dpopThumbprint?: string,
): string {
  return JSON.stringify([profile, subject ?? null, scopes, ...(dpopThumbprint ? [dpopThumbprint] : [])]);
}

/** Tokens by key, plus the request in flight for each key. */
export class TokenMemo {
  readonly #tokens = new Map<string, HeldToken>();
  readonly #flights = new Map<string, Promise<HeldToken>>();

  /** The cached token for `key` when it still has at least `minTtlMs` left at `now`. */
  fresh(key: string, now: number, minTtlMs: number): HeldToken | undefined {
    const token = this.#tokens.get(key);
    if (token === undefined) return undefined;
    if (token.expiresAt - now >= minTtlMs) return token;
    if (token.expiresAt <= now) this.#tokens.delete(key);
    return undefined;
  }

  /** The request in flight for `key`, if any. */
  inFlight(key: string): Promise<HeldToken> | undefined {
    return this.#flights.get(key);
  }

  /**
   * Starts `fetchToken` as the one request for `key`; the token is kept once it arrives.
   * Failures are not kept: the next call asks again.
   */
  start(key: string, now: () => number, fetchToken: () => Promise<HeldToken>): Promise<HeldToken> {
    const flight = fetchToken()
      .then((token) => {
        this.#keep(key, token, now());
        return token;
      })
      .finally(() => {
        if (this.#flights.get(key) === flight) this.#flights.delete(key);
      });
    this.#flights.set(key, flight);
    return flight;
  }

  /** The token held for `key`, fresh or not. */
  peek(key: string): HeldToken | undefined {
    return this.#tokens.get(key);
  }

  /** Forgets the token held for `key`. */
  drop(key: string): void {
    this.#tokens.delete(key);
  }

  /** Forgets every token (for example after the caller's role changed). */
  clear(): void {
    this.#tokens.clear();
  }

  #keep(key: string, token: HeldToken, now: number): void {
    this.#tokens.delete(key);
    if (this.#tokens.size >= MAX_CACHED_TOKENS) this.#evict(now);
    this.#tokens.set(key, token);
  }

  #evict(now: number): void {
    let soonest: [string, number] | undefined;
    for (const [key, token] of this.#tokens) {
      if (token.expiresAt <= now) this.#tokens.delete(key);
      else if (soonest === undefined || token.expiresAt < soonest[1]) soonest = [key, token.expiresAt];
    }
    if (this.#tokens.size >= MAX_CACHED_TOKENS && soonest !== undefined) this.#tokens.delete(soonest[0]);
  }
}
