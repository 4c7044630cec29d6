import { randomUUID } from 'node:crypto';
import { ConsentRequired } from '../errors.ts';
import type { Clock, Logger } from '../types.ts';
import { silentLogger } from '../types.ts';
import { Lru } from './lru.ts';
import type { CachedToken, SharedTokenStore, TokenDescriptor } from './types.ts';

/** Default `minTtl` of a request, seconds. */
export const DEFAULT_MIN_TTL = 60;
/** Default refresh margin (google-auth and msal use five minutes), seconds. */
export const DEFAULT_REFRESH_MARGIN = 300;
/** Tokens kept in process. */
export const DEFAULT_MAX_ENTRIES = 1000;
/** How long a `consent_required` answer is remembered per key, so a missing consent does not hammer the provider. */
export const CONSENT_REQUIRED_CACHE_MS = 60_000;
/** How long the shared-store lease of one refresher lasts before another instance may take over. */
export const DEFAULT_LEASE_MS = 10_000;
/** Waits between reads of the shared store while another instance holds the lease (then 1 s each). */
export const LEASE_POLL_DELAYS_MS: readonly number[] = [25, 50, 100, 200, 400, 800, 1000];

/**
 * Whether `token` has less than `marginMs` left at `now`, the margin capped at half the
 * token's life (a short-lived token is not always inside its margin).
 */
export function insideMargin(token: CachedToken, marginMs: number, now: number): boolean {
  return token.expiresAt - now < Math.min(marginMs, (token.expiresAt - token.obtainedAt) / 2);
}

/** Obtains a new token from upstream. */
export type TokenLoader = () => Promise<CachedToken>;

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
  /** Default {@link DEFAULT_LEASE_MS}. */
  readonly leaseMs?: number;
  /** Waits while polling the shared store; injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly logger?: Logger;
}

/** What one key's token is, and how to obtain it. */
interface Wanted {
  readonly key: string;
  readonly descriptor: TokenDescriptor;
  readonly load: TokenLoader;
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
 * upstream with a lease so that one instance refreshes while the others wait.
 *
 * A token is served while its remaining life is at least the request's `minTtl`, but never
 * asks for more than half the token's whole life (a `minTtl` above what the provider
 * grants would otherwise send every request upstream). Likewise the refresh margin is at
 * most half the token's life.
 */
export class TokenCache {
  readonly #clock: Clock;
  readonly #tokens: Lru<CachedToken>;
  readonly #consent: Lru<ConsentRecord>;
  readonly #inflight = new Map<string, Promise<CacheResult>>();
  readonly #marginMs: number;
  readonly #shared: SharedTokenStore | undefined;
  readonly #holder: string;
  readonly #leaseMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #logger: Logger;

  constructor(options: TokenCacheOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#tokens = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#consent = new Lru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.#marginMs = (options.refreshMargin ?? DEFAULT_REFRESH_MARGIN) * 1000;
    this.#shared = options.sharedStore;
    this.#holder = options.holder ?? randomUUID();
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#logger = options.logger ?? silentLogger;
  }

  /** Whether `token` still has at least `minTtlMs` (capped at half its life) to live. */
  usable(token: CachedToken, minTtlMs: number, now = this.#clock()): boolean {
    const life = token.expiresAt - token.obtainedAt;
    return token.expiresAt - now >= Math.min(minTtlMs, life / 2) && token.expiresAt > now;
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
   * A token for `key` with at least `minTtlMs` left: from process memory, else from one
   * shared upstream request. A stale token that still qualifies is served and refreshed
   * in the background (once per key).
   *
   * @throws whatever `load` throws (shared by concurrent waiters); a remembered ConsentRequired.
   */
  async get(
    key: string,
    descriptor: TokenDescriptor,
    minTtlMs: number,
    load: TokenLoader,
  ): Promise<CacheResult> {
    const now = this.#clock();
    const consent = this.#consent.get(key);
    if (consent) {
      if (consent.until > now) throw consent.error;
      this.#consent.delete(key);
    }
    const token = this.#tokens.get(key);
    if (token && this.usable(token, minTtlMs, now)) {
      if (this.stale(token, now)) this.#background({ key, descriptor, load });
      if (this.#shared) this.#shared.touch(key).catch(() => undefined);
      return { token, cached: true };
    }
    return this.#flight({ key, descriptor, load }, minTtlMs, false);
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
  #flight(wanted: Wanted, minTtlMs: number, force: boolean): Promise<CacheResult> {
    const { key } = wanted;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#obtain(wanted, minTtlMs, force).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  async #obtain(wanted: Wanted, minTtlMs: number, force: boolean): Promise<CacheResult> {
    const { key } = wanted;
    const shared = this.#shared;
    let result: CacheResult;
    try {
      result =
        shared && !force ? await this.#viaShared(shared, wanted, minTtlMs) : await this.#load(wanted, false);
    } catch (err) {
      if (err instanceof ConsentRequired)
        this.#consent.set(key, { error: err, until: this.#clock() + CONSENT_REQUIRED_CACHE_MS });
      throw err;
    }
    this.#tokens.set(key, result.token);
    this.#consent.delete(key);
    return result;
  }

  /**
   * Loads upstream and stores the token in the shared store (if any). When this instance
   * holds the lease (`leased`), the put releases it, and a failed load gives it up.
   */
  async #load({ key, descriptor, load }: Wanted, leased: boolean): Promise<CacheResult> {
    const shared = this.#shared;
    let token: CachedToken;
    try {
      token = await load();
    } catch (err) {
      if (leased) await shared?.releaseLease(key, this.#holder).catch(() => undefined);
      throw err;
    }
    await shared?.put(key, descriptor, token, leased ? this.#holder : undefined).catch((err: unknown) => {
      this.#logger.warn('could not store the token in the shared cache', {
        profile: descriptor.profile,
        code: (err as { code?: string }).code ?? 'unexpected',
      });
    });
    return { token, cached: false };
  }

  #fresh(token: CachedToken | undefined, minTtlMs: number): token is CachedToken {
    return token !== undefined && this.usable(token, minTtlMs) && !this.stale(token);
  }

  /**
   * A local miss with a shared store: take a fresh token from the store; else win the
   * lease and load; else poll until the lease holder's token appears or its lease lapses.
   * A shared store that fails reads as a miss and grants the lease (upstream is asked).
   */
  async #viaShared(shared: SharedTokenStore, wanted: Wanted, minTtlMs: number): Promise<CacheResult> {
    const { key, descriptor } = wanted;
    const freshInStore = async (): Promise<CachedToken | undefined> => {
      const token = await shared.get(key).catch(() => undefined);
      return this.#fresh(token, minTtlMs) ? token : undefined;
    };
    const winLease = (): Promise<boolean> =>
      shared.acquireLease(key, descriptor, this.#holder, this.#leaseMs).catch(() => true);

    let found = await freshInStore();
    if (found) return { token: found, cached: true };
    if (await winLease()) return this.#loadUnderLease(shared, wanted, freshInStore);
    // Another instance is refreshing: wait for its token, or for its lease to lapse.
    for (let i = 0, waited = 0; waited < this.#leaseMs * 1.5; i += 1) {
      const delay = LEASE_POLL_DELAYS_MS[Math.min(i, LEASE_POLL_DELAYS_MS.length - 1)]!;
      await this.#sleep(delay);
      waited += delay;
      found = await freshInStore();
      if (found) return { token: found, cached: true };
      if (await winLease()) return this.#loadUnderLease(shared, wanted, freshInStore);
    }
    this.#logger.warn('shared cache lease never came free; refreshing without it', {
      profile: descriptor.profile,
    });
    return this.#load(wanted, false);
  }

  /**
   * Holding the lease: a token is written before its lease is released, so one more read
   * catches the instance that finished between our last read and our lease.
   */
  async #loadUnderLease(
    shared: SharedTokenStore,
    wanted: Wanted,
    freshInStore: () => Promise<CachedToken | undefined>,
  ): Promise<CacheResult> {
    const found = await freshInStore();
    if (!found) return this.#load(wanted, true);
    await shared.releaseLease(wanted.key, this.#holder).catch(() => undefined);
    return { token: found, cached: true };
  }
}
