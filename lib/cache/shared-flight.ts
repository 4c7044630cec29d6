/**
 * One instance's side of the fleet-wide single flight: take a fresh token from the shared
 * store, else win the key's lease and load, else wait for the holder's token. The lease is
 * renewed while the load runs (up to the longest a load may take), every acquisition has
 * its own lease id, and the token is written fenced on that id, so a holder that finishes
 * after another instance took over never overwrites the newer token.
 */
import { randomUUID } from 'node:crypto';
import { DEADLINE_MS } from '../exchange/retry.ts';
import { ConsentRequired } from '../errors.ts';
import { debugEnabled, type Clock, type Logger } from '../types.ts';
import type { CachedToken, ForcedClaim, SharedTokenStore, TokenDescriptor } from './types.ts';

/** How long one lease lasts without renewal; a killed holder is taken over this long after its last renewal. */
export const DEFAULT_LEASE_MS = 10_000;
/** Renewals per lease period (a renewal every `leaseMs / 3`), so two missed renewals still leave the lease held. */
export const LEASE_RENEWALS_PER_PERIOD = 3;
/** Opening the key material before the exchange (secrets fetched with retries): the margin added to the exchange deadline. */
export const KEY_OPENING_MARGIN_MS = 10_000;
/**
 * The longest a lease holder keeps renewing: the exchange deadline plus the key opening.
 * A load still running after this (a stuck process) lets its lease lapse.
 */
export const DEFAULT_MAX_HOLD_MS = DEADLINE_MS + KEY_OPENING_MARGIN_MS;
/** Waits between reads of the shared store while another instance holds the lease (then 1 s each). */
export const LEASE_POLL_DELAYS_MS: readonly number[] = [25, 50, 100, 200, 400, 800, 1000];

/** Obtains a new token from upstream. */
export type TokenLoader = () => Promise<CachedToken>;

/** What one key's token is, and how to obtain it. */
export interface Wanted {
  readonly key: string;
  readonly descriptor: TokenDescriptor;
  readonly load: TokenLoader;
}

/** A token and whether it came from a cache (false: obtained upstream by this call). */
export interface FlightResult {
  readonly token: CachedToken;
  readonly cached: boolean;
}

/** Options of {@link SharedFlight}. */
export interface SharedFlightOptions {
  readonly store: SharedTokenStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sleep: (ms: number) => Promise<void>;
  /** This instance's id; each lease acquisition appends a counter. Default a random UUID. */
  readonly holder?: string | undefined;
  /** Default {@link DEFAULT_LEASE_MS}. */
  readonly leaseMs?: number | undefined;
  /** Default {@link DEFAULT_MAX_HOLD_MS}. */
  readonly maxHoldMs?: number | undefined;
  /** How long a `consent_required` is remembered in the store. */
  readonly consentMs: number;
}

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? 'unexpected';
}

/** Loads through the shared store for one instance; see the module comment. */
export class SharedFlight {
  readonly #store: SharedTokenStore;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #holder: string;
  readonly #leaseMs: number;
  readonly #maxHoldMs: number;
  readonly #consentMs: number;
  #acquisitions = 0;

  constructor(options: SharedFlightOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#sleep = options.sleep;
    this.#holder = options.holder ?? randomUUID();
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#maxHoldMs = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    this.#consentMs = options.consentMs;
  }

  /** Records a cache hit for the scheduled refresh, without waiting; never fails. */
  touch(key: string): void {
    this.#store.touch(key).catch(() => undefined);
  }

  /** Records a cache hit for the scheduled refresh and waits for it; never fails. */
  touchNow(key: string): Promise<void> {
    return this.#store.touch(key).catch(() => undefined);
  }

  /** The store's token for `key`, if any; never fails (a store that cannot answer has none). */
  peek(key: string): Promise<CachedToken | undefined> {
    return this.#store.get(key).catch(() => undefined);
  }

  /**
   * A token accepted by `wanted` (`fresh`): from the store, else loaded under the lease,
   * else the lease holder's once it appears. Waiting ends when the holder's lease lapses
   * (a killed holder) and at the latest after the longest a holder may keep renewing plus
   * one lease; then this instance loads without the lease.
   *
   * @throws whatever the load throws; ConsentRequired remembered by another instance.
   */
  async obtain(wanted: Wanted, fresh: (token: CachedToken) => boolean): Promise<FlightResult> {
    const inStore = async (): Promise<CachedToken | undefined> => {
      const token = await this.#store.get(wanted.key).catch(() => undefined);
      return token !== undefined && fresh(token) ? token : undefined;
    };
    let found = await inStore();
    if (found) return { token: found, cached: true };
    const patience = this.#maxHoldMs + this.#leaseMs;
    for (let i = 0, waited = 0; ; i += 1) {
      const lease = await this.#acquire(wanted);
      if (lease !== undefined) return this.#underLease(wanted, lease, inStore);
      if (waited >= patience) break;
      const delay = LEASE_POLL_DELAYS_MS[Math.min(i, LEASE_POLL_DELAYS_MS.length - 1)]!;
      await this.#sleep(delay);
      waited += delay;
      found = await inStore();
      if (found) {
        if (debugEnabled(this.#logger))
          this.#logger.debug('token path: waited for the lease holder', {
            profile: wanted.descriptor.profile,
            waitedMs: waited,
          });
        return { token: found, cached: true };
      }
    }
    this.#logger.warn('shared cache lease never came free; refreshing without it', {
      profile: wanted.descriptor.profile,
    });
    return this.load(wanted);
  }

  /**
   * Claims the fleet's forced refresh of `stored` (a token a caller reported refused): a
   * lease id when this instance won it (then it must call {@link replace} with it), else
   * why not ({@link ForcedClaim}).
   */
  async claimForced(
    wanted: Wanted,
    stored: CachedToken,
    intervalMs: number,
  ): Promise<{ readonly claim: ForcedClaim; readonly lease?: string }> {
    this.#acquisitions += 1;
    const lease = `${this.#holder}/${this.#acquisitions}`;
    const claim = await this.#store
      .claimForcedRefresh(wanted.key, lease, this.#leaseMs, stored.obtainedAt, intervalMs)
      .catch((): ForcedClaim => 'claimed');
    return claim === 'claimed' ? { claim, lease } : { claim };
  }

  /**
   * Replaces the stored token under `lease` (won by {@link claimForced}): a token accepted
   * by `fresh` that appeared meanwhile, else one loaded and stored fenced on the lease.
   *
   * @throws whatever the load throws.
   */
  replace(wanted: Wanted, lease: string, fresh: (token: CachedToken) => boolean): Promise<FlightResult> {
    return this.#underLease(wanted, lease, async () => {
      const token = await this.#store.get(wanted.key).catch(() => undefined);
      return token !== undefined && fresh(token) ? token : undefined;
    });
  }

  /** Loads without a lease (a forced refresh) and stores the token unless a newer one is stored. */
  async load(wanted: Wanted): Promise<FlightResult> {
    const token = await wanted.load();
    await this.#put(wanted, token, undefined);
    return { token, cached: false };
  }

  /** A lease id when this instance won the lease, else undefined. */
  async #acquire({ key, descriptor }: Wanted): Promise<string | undefined> {
    this.#acquisitions += 1;
    const lease = `${this.#holder}/${this.#acquisitions}`;
    const won = await this.#store.acquireLease(key, descriptor, lease, this.#leaseMs).catch(() => true);
    return won ? lease : undefined;
  }

  /**
   * Holding the lease: one more read catches a holder that finished between our last read
   * and our lease, and a remembered consent answer; then load while renewing the lease.
   */
  async #underLease(
    wanted: Wanted,
    lease: string,
    inStore: () => Promise<CachedToken | undefined>,
  ): Promise<FlightResult> {
    const { key, descriptor } = wanted;
    const release = () => this.#store.releaseLease(key, lease).catch(() => undefined);
    const [found, consent] = await Promise.all([
      inStore(),
      this.#store.getConsentRequired(key).catch(() => undefined),
    ]);
    if (found || consent) {
      await release();
      if (found) return { token: found, cached: true };
      // Another instance was told consent_required within the window: do not ask again.
      throw new ConsentRequired(
        { profile: descriptor.profile, subject: descriptor.subject, consentUrl: consent!.consentUrl },
        { details: { error: consent!.error, error_description: consent!.errorDescription } },
      );
    }
    if (debugEnabled(this.#logger))
      this.#logger.debug('token path: lease won', { profile: descriptor.profile });
    const stopRenewing = this.#keepLease(key, lease);
    let token: CachedToken;
    try {
      token = await wanted.load();
    } catch (err) {
      stopRenewing();
      if (err instanceof ConsentRequired) await this.#rememberConsent(wanted, err);
      await release();
      throw err;
    }
    stopRenewing();
    if (await this.#put(wanted, token, lease)) return { token, cached: false };
    // Fenced out: our lease lapsed and another instance took over. Prefer its token.
    const theirs = await inStore();
    this.#logger.warn('lease lapsed during the refresh; another instance took over', {
      profile: descriptor.profile,
      outcome: theirs ? 'serving the newer token' : 'serving this token, not stored',
    });
    return theirs ? { token: theirs, cached: true } : { token, cached: false };
  }

  /** Renews the lease every `leaseMs / 3` until stopped or until {@link DEFAULT_MAX_HOLD_MS} has passed. */
  #keepLease(key: string, lease: string): () => void {
    const until = this.#clock() + this.#maxHoldMs;
    const timer = setInterval(() => {
      if (this.#clock() >= until) {
        clearInterval(timer);
        return;
      }
      this.#store.renewLease(key, lease, this.#leaseMs).then(
        (held) => {
          if (!held) clearInterval(timer);
        },
        () => undefined,
      );
    }, this.#leaseMs / LEASE_RENEWALS_PER_PERIOD);
    timer.unref();
    return () => clearInterval(timer);
  }

  async #put(wanted: Wanted, token: CachedToken, lease: string | undefined): Promise<boolean> {
    return this.#store.put(wanted.key, wanted.descriptor, token, lease).catch((err: unknown) => {
      this.#logger.warn('could not store the token in the shared cache', {
        profile: wanted.descriptor.profile,
        code: codeOf(err),
      });
      return true;
    });
  }

  async #rememberConsent(wanted: Wanted, err: ConsentRequired): Promise<void> {
    const details = err.details ?? {};
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    await this.#store
      .putConsentRequired(wanted.key, wanted.descriptor, {
        until: this.#clock() + this.#consentMs,
        consentUrl: err.consentUrl,
        error: text(details['error']),
        errorDescription: text(details['error_description']),
      })
      .catch(() => undefined);
  }
}
