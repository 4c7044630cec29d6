import { ConsentRequired } from '../errors.ts';
import type { Clock, Logger } from '../types.ts';
import { debugEnabled, silentLogger } from '../types.ts';
import { Lru } from './lru.ts';
import { SharedFlight, type TokenLoader, type Wanted } from './shared-flight.ts';
import type { CachedToken, SharedTokenStore, TokenDescriptor } from './types.ts';

export { DEFAULT_LEASE_MS, LEASE_POLL_DELAYS_MS } from './shared-flight.ts';
export type { TokenLoader } from './shared-flight.ts';

/** Default `minTtl` of a request, seconds. */
export const DEFAULT_MIN_TTL = 60;
/** Default refresh margin (google-auth and msal use five minutes), seconds. */
export const DEFAULT_REFRESH_MARGIN = 300;
/** Tokens kept in process. */
export const DEFAULT_MAX_ENTRIES = 1000;
/** How long a `consent_required` answer is remembered per key (in process and in the shared store), so a missing consent does not hammer the provider. */
export const CONSENT_REQUIRED_CACHE_MS = 60_000;

/**
 * Whether `token` has less than `marginMs` left at `now`, the margin capped at half the
 * token's life (a short-lived token is not always inside its margin).
 */
export function insideMargin(token: CachedToken, marginMs: number, now: number): boolean {
  return token.expiresAt - now < Math.min(marginMs, (token.expiresAt - token.obtainedAt) / 2);
}

/**
 * Whether `token` may answer a request asking for `minTtlMs` at `now`: it has at least
 * `minTtlMs` left. When the provider's own lifetime (the token's whole life) is at most
 * `minTtlMs`, no token can (even a token of exactly that life has less left by the time
 * it is read), and the freshest is served instead: one with at least half its life left,
 * so such a provider is asked once per half lifetime, not on every request. A token just
 * obtained upstream is served whatever this says ({@link TokenCache.get}): it is the
 * freshest there is.
 */
export function meetsMinTtl(token: CachedToken, minTtlMs: number, now: number): boolean {
  const left = token.expiresAt - now;
  if (left <= 0) return false;
  const life = token.expiresAt - token.obtainedAt;
  return life > minTtlMs ? left >= minTtlMs : left >= life / 2;
}

/**
 * Without background work (Lambda), a hit on a stale token reads the shared store for the
 * token the schedule refreshed at most this often per key; between reads the held token
 * is served as it is.
 */
export const STALE_RECHECK_MS = 15_000;

/** At most one forced refresh (a caller reported the token refused) per key in this period. */
export const FORCED_REFRESH_INTERVAL_MS = 10_000;

/** A token served by the cache. */
export interface CacheResult {
  readonly token: CachedToken;
  /** True when served from a cache (in process or shared); false when obtained upstream by this call or one it joined. */
  readonly cached: boolean;
}

/** Options of {@link TokenCache}. */
export interface TokenCacheOptions {
  readonly clock?: Clock;
  /** Default {@link DEFAULT_MAX_ENTRIES}. */
  readonly maxEntries?: number;
  /** Seconds before expiry a token counts as stale; default {@link DEFAULT_REFRESH_MARGIN}. */
  readonly refreshMargin?: number;
  /** Shared cache across instances (DynamoDB), consulted on a local miss. */
  readonly sharedStore?: SharedTokenStore | undefined;
  /** This instance's lease holder id; default a random UUID. */
  readonly holder?: string;
  /** Shared-store lease, renewed while a load runs; default `DEFAULT_LEASE_MS`. */
  readonly leaseMs?: number;
  /** Longest a lease is renewed for one load; default `DEFAULT_MAX_HOLD_MS`. */
  readonly maxHoldMs?: number;
  /** Waits while polling the shared store; injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly logger?: Logger;
  /**
   * How debug lines name a token: its fingerprint (never the token). Default: not named.
   * Only called when the logger writes debug lines.
   */
  readonly fingerprint?: (token: CachedToken) => string;
  /**
   * Whether work may continue after a request is answered (default true: a long-running
   * server). False under Lambda, which freezes the process once the handler settles: a
   * stale hit then starts no refresh (the schedule refreshes the shared entry, which the
   * hit reads back at most every {@link STALE_RECHECK_MS}), and the shared entry's
   * `lastUsedAt` is written before the answer, not after.
   */
  readonly backgroundWork?: boolean;
}

interface ConsentRecord {
  readonly error: ConsentRequired;
  readonly until: number;
}

/**
 * The in-process token cache: a bounded LRU with single-flight per key (concurrent callers
 * await one upstream request, as jose's `jwks/remote.ts` shares one fetch; a failure
 * reaches every waiter but is not cached), stale-while-revalidate inside the refresh
 * margin, remembered `consent_required` answers, and an optional shared store in front of
 * upstream with a fenced, renewed lease so that one instance of a fleet refreshes while
 * the others wait (`shared-flight.ts`).
 *
 * A token is served while it has at least the request's `minTtl` left ({@link meetsMinTtl});
 * the refresh margin is at most half the token's life.
 */
export class TokenCache {
  readonly #clock: Clock;
  readonly #tokens: Lru<CachedToken>;
  readonly #consent: Lru<ConsentRecord>;
  readonly #inflight = new Map<string, Promise<CacheResult>>();
  readonly #forcedAt: Lru<number>;
  readonly #marginMs: number;
  readonly #shared: SharedFlight | undefined;
  readonly #logger: Logger;
  readonly #fingerprint: ((token: CachedToken) => string) | undefined;
  readonly #backgroundWork: boolean;
  /** When a stale hit last read the shared store, per key (no background work only). */
  readonly #recheckedAt: Lru<number>;

  constructor(options: TokenCacheOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#tokens = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#consent = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#forcedAt = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#marginMs = (options.refreshMargin ?? DEFAULT_REFRESH_MARGIN) * 1000;
    this.#logger = options.logger ?? silentLogger;
    this.#fingerprint = options.fingerprint;
    this.#backgroundWork = options.backgroundWork ?? true;
    this.#recheckedAt = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#shared =
      options.sharedStore &&
      new SharedFlight({
        store: options.sharedStore,
        clock: this.#clock,
        logger: this.#logger,
        sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
        holder: options.holder,
        leaseMs: options.leaseMs,
        maxHoldMs: options.maxHoldMs,
        consentMs: CONSENT_REQUIRED_CACHE_MS,
      });
  }

  /** Whether `token` may answer a request for `minTtlMs` ({@link meetsMinTtl}). */
  usable(token: CachedToken, minTtlMs: number, now = this.#clock()): boolean {
    return meetsMinTtl(token, minTtlMs, now);
  }

  /** Whether `token` is inside the refresh margin (capped at half its life). */
  stale(token: CachedToken, now = this.#clock()): boolean {
    return insideMargin(token, this.#marginMs, now);
  }

  /** The token held in process for `key`, without side effects on upstream. */
  peek(key: string): CachedToken | undefined {
    return this.#tokens.get(key);
  }

  /** Forgets the token and any remembered `consent_required` of `key`. */
  delete(key: string): void {
    this.#tokens.delete(key);
    this.#consent.delete(key);
  }

  /**
   * A token for `key` with at least `minTtlMs` left (see {@link meetsMinTtl}): from process
   * memory, else from one shared upstream request. A stale token that still qualifies is
   * served and refreshed in the background (once per key).
   *
   * With `rejected` (a caller reported its token refused): when the token held, or with a
   * shared store the stored one, matches it, it is dropped and a new one obtained, at most
   * once per key per {@link FORCED_REFRESH_INTERVAL_MS} across the fleet; concurrent
   * reporters (on any instance) wait for that one request, and a token that no longer
   * matches is simply served.
   *
   * @throws whatever `load` throws (shared by concurrent waiters); a remembered ConsentRequired.
   */
  async get(
    key: string,
    descriptor: TokenDescriptor,
    minTtlMs: number,
    load: TokenLoader,
    rejected?: (token: CachedToken) => boolean,
  ): Promise<CacheResult> {
    if (rejected === undefined) {
      const held = this.hit(key, descriptor, minTtlMs, load);
      if (held !== undefined) return { token: held, cached: true };
    }
    const now = this.#clock();
    const consent = this.#consent.get(key);
    if (consent) {
      if (consent.until > now) throw consent.error;
      this.#consent.delete(key);
    }
    const wanted = { key, descriptor, load };
    if (rejected) {
      const replaced = await this.#replaceRejected(wanted, minTtlMs, rejected, now);
      if (replaced) return replaced;
    }
    const token = this.#tokens.get(key);
    if (token && this.usable(token, minTtlMs, now)) {
      if (debugEnabled(this.#logger)) this.#debug('token path: memory hit', descriptor.profile, token, now);
      if (!this.#backgroundWork) return this.#hitWithinRequest(key, token, minTtlMs, now);
      if (this.stale(token, now)) this.#background({ key, descriptor, load });
      this.#shared?.touch(key);
      return { token, cached: true };
    }
    if (debugEnabled(this.#logger))
      this.#logger.debug('token path: memory miss', {
        profile: descriptor.profile,
        held: token === undefined ? 'none' : 'short of minTtl',
      });
    const result = await this.#flight(wanted, minTtlMs, false);
    if (debugEnabled(this.#logger))
      this.#debug(
        result.cached ? 'token path: shared-store hit' : 'token path: upstream call',
        descriptor.profile,
        result.token,
      );
    // A token from upstream is the freshest there is: served even when it cannot meet
    // minTtl, never fetched again for this request (at most one upstream request per
    // request). Only a token a joined flight took from the shared store for a smaller
    // minTtl (a background refresh's) is asked for once more.
    if (!result.cached || this.usable(result.token, minTtlMs)) return result;
    return this.#flight(wanted, minTtlMs, false);
  }

  /**
   * What {@link get} serves without waiting for anything, when it can: the token held in
   * process for `key` when no `consent_required` is remembered for it, it meets `minTtlMs`
   * and the hit needs no shared-store read first (background work allowed). As in `get`, a
   * stale token starts its background refresh and the shared entry is touched. Undefined
   * when `get` has more to do; then call `get`, which checks everything again.
   */
  hit(
    key: string,
    descriptor: TokenDescriptor,
    minTtlMs: number,
    load: TokenLoader,
  ): CachedToken | undefined {
    if (!this.#backgroundWork || this.#consent.get(key) !== undefined) return undefined;
    const token = this.#tokens.get(key);
    if (token === undefined) return undefined;
    const now = this.#clock();
    if (!this.usable(token, minTtlMs, now)) return undefined;
    if (debugEnabled(this.#logger)) this.#debug('token path: memory hit', descriptor.profile, token, now);
    if (this.stale(token, now)) this.#background({ key, descriptor, load });
    this.#shared?.touch(key);
    return token;
  }

  /**
   * A caller reported the token with `rejected`'s fingerprint refused. With a shared entry,
   * the fleet decides: when the stored token is that one, the instance that claims the
   * forced refresh ({@link SharedFlight.claimForced}: the lease and the key's `forcedAt`, in
   * one conditional write) replaces it, others wait for its token, and within
   * {@link FORCED_REFRESH_INTERVAL_MS} of the key's last forced refresh the stored token is
   * served; when the stored token is another, a held copy of the refused one is dropped.
   * Without a shared entry this instance decides alone on the token it holds. Undefined
   * when the request is served as usual.
   */
  async #replaceRejected(
    wanted: Wanted,
    minTtlMs: number,
    rejected: (token: CachedToken) => boolean,
    now: number,
  ): Promise<CacheResult | undefined> {
    const { key, descriptor } = wanted;
    const held = this.#tokens.get(key);
    const last = this.#forcedAt.get(key);
    const limited = last !== undefined && now - last < FORCED_REFRESH_INTERVAL_MS;
    const shared = this.#shared;
    const stored = shared && (await shared.peek(key));
    const forcing = (where: string) => {
      this.#forcedAt.set(key, now);
      this.#tokens.delete(key);
      this.#logger.info('a caller reported the cached token refused; obtaining a new one', {
        profile: descriptor.profile,
        where,
      });
    };
    if (!shared || stored === undefined) {
      if (!held || !rejected(held) || limited) return undefined;
      forcing('process');
      return this.#flight(wanted, minTtlMs, false, rejected);
    }
    if (!rejected(stored)) {
      if (!held || !rejected(held)) return undefined;
      // The fleet replaced it already: forget this copy and serve the stored one.
      this.#tokens.delete(key);
      return this.#flight(wanted, minTtlMs, false, rejected);
    }
    if (limited) return undefined;
    const { claim, lease } = await shared.claimForced(wanted, stored, FORCED_REFRESH_INTERVAL_MS);
    if (claim === 'limited') return undefined;
    if (held && rejected(held)) this.#tokens.delete(key);
    if (lease === undefined) return this.#flight(wanted, minTtlMs, false, rejected);
    forcing('shared');
    const pending = shared
      .replace(wanted, lease, (token) => this.#fresh(token, minTtlMs) && !rejected(token))
      .then(
        (result) => {
          this.#tokens.set(key, result.token);
          this.#consent.delete(key);
          return result;
        },
        (err: unknown) => {
          if (err instanceof ConsentRequired)
            this.#consent.set(key, { error: err, until: this.#clock() + CONSENT_REQUIRED_CACHE_MS });
          throw err;
        },
      )
      .finally(() => {
        if (this.#inflight.get(key) === pending) this.#inflight.delete(key);
      });
    this.#inflight.set(key, pending);
    return pending;
  }

  /** One debug line naming the profile and the token by fingerprint, with its seconds left. */
  #debug(message: string, profile: string, token: CachedToken, now = this.#clock()): void {
    this.#logger.debug(message, {
      profile,
      fingerprint: this.#fingerprint?.(token),
      expiresIn: Math.floor((token.expiresAt - now) / 1000),
    });
  }

  /**
   * For the scheduled refresher: obtains a new token when the one held is missing or
   * stale (always when `force`), ignoring a remembered `consent_required`.
   */
  async refresh(
    key: string,
    descriptor: TokenDescriptor,
    load: TokenLoader,
    force = false,
  ): Promise<CacheResult> {
    const token = this.#tokens.get(key);
    if (!force && token && !this.stale(token)) return { token, cached: true };
    this.#consent.delete(key);
    return this.#flight({ key, descriptor, load }, 0, force);
  }

  /**
   * A hit that leaves nothing running after the answer: the touch is awaited, and a stale
   * token is swapped for a newer one the shared store holds (the schedule's), read at most
   * every {@link STALE_RECHECK_MS} per key. Upstream is never asked for a usable token.
   */
  async #hitWithinRequest(
    key: string,
    token: CachedToken,
    minTtlMs: number,
    now: number,
  ): Promise<CacheResult> {
    const shared = this.#shared;
    if (!shared) return { token, cached: true };
    let served = token;
    const last = this.#recheckedAt.get(key);
    if (this.stale(token, now) && (last === undefined || now - last >= STALE_RECHECK_MS)) {
      this.#recheckedAt.set(key, now);
      const newer = await shared.peek(key);
      if (newer !== undefined && newer.expiresAt > token.expiresAt && this.usable(newer, minTtlMs, now)) {
        this.#tokens.set(key, newer);
        served = newer;
      }
    }
    await shared.touchNow(key);
    return { token: served, cached: true };
  }

  #background(wanted: Wanted): void {
    if (this.#inflight.has(wanted.key)) return;
    this.#flight(wanted, 0, false).catch((err: unknown) => {
      this.#logger.warn('background token refresh failed; the cached token is still served', {
        profile: wanted.descriptor.profile,
        code: (err as { code?: string }).code ?? 'unexpected',
      });
    });
  }

  /** One upstream (or shared-store) request per key: concurrent callers join the one in flight. */
  #flight(
    wanted: Wanted,
    minTtlMs: number,
    force: boolean,
    rejected?: (token: CachedToken) => boolean,
  ): Promise<CacheResult> {
    const { key } = wanted;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#obtain(wanted, minTtlMs, force, rejected).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #obtain(
    wanted: Wanted,
    minTtlMs: number,
    force: boolean,
    rejected: ((token: CachedToken) => boolean) | undefined,
  ): Promise<CacheResult> {
    const { key } = wanted;
    const shared = this.#shared;
    let result: CacheResult;
    try {
      if (!shared) result = { token: await wanted.load(), cached: false };
      else if (force) result = await shared.load(wanted);
      else
        result = await shared.obtain(
          wanted,
          (token) => this.#fresh(token, minTtlMs) && !(rejected?.(token) ?? false),
        );
    } catch (err) {
      if (err instanceof ConsentRequired)
        this.#consent.set(key, { error: err, until: this.#clock() + CONSENT_REQUIRED_CACHE_MS });
      throw err;
    }
    this.#tokens.set(key, result.token);
    this.#consent.delete(key);
    return result;
  }

  #fresh(token: CachedToken, minTtlMs: number): boolean {
    return this.usable(token, minTtlMs) && !this.stale(token);
  }
}
