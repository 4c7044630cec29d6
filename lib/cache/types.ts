/** One refresh worker's share of the keys: shard `index` of `count` (see `due.ts`). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/**
 * Everything that makes one token differ from another: the cache key is this object,
 * hashed once (`cacheKey`). A new request property that changes the token (a DPoP key
 * thumbprint, …) is one more field here and one line where it is built
 * (`lib/broker/request.ts`); values that may be secret go into `variant`, hashed.
 */
export interface TokenDescriptor {
  readonly profile: string;
  readonly issuer: string;
  readonly subject: string;
  /** Assertion audience, arrays joined with a space. */
  readonly audience: string;
  readonly grant: string;
  /** Scopes, sorted. */
  readonly scopes: readonly string[];
  /** Token endpoint, method and URL: `POST https://…/token`. */
  readonly endpoint: string;
  /**
   * SHA-256 (hex) over what is sent but may be secret: the custom headers and the extra
   * request parameters, as written in the profile (references, never resolved values).
   * Empty when the profile has none.
   */
  readonly variant: string;
  /**
   * RFC 7638 thumbprint of the caller's DPoP key when the token is bound to it (RFC 9449),
   * so it is only served to requests proving that key. Absent for Bearer tokens.
   */
  readonly dpopJkt?: string;
}

/** A token as the caches hold it. `accessToken` is secret: never log it. */
export interface CachedToken {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Expiry, epoch milliseconds. */
  readonly expiresAt: number;
  /** Granted scope as the provider returned it, when it did. */
  readonly scope: string | undefined;
  /** When it was obtained, epoch milliseconds. */
  readonly obtainedAt: number;
  /** Provider fields passed on with the token (`responseFields`), sealed with it in the shared store. */
  readonly fields?: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** A shared entry with what it is for, so a schedule can refresh it. */
export interface SharedEntry {
  readonly key: string;
  readonly descriptor: TokenDescriptor;
  readonly token: CachedToken | undefined;
  /** Last time a caller was served from it, epoch milliseconds. */
  readonly lastUsedAt: number | undefined;
}

/** What a scheduled run asks the shared store for (see `due.ts`). */
export interface DueQuery {
  /** Tokens that entered their refresh margin before this time (epoch ms). */
  readonly now: number;
  /** Entries last served before this time (epoch ms) leave the schedule: refreshed on demand only. */
  readonly usedSince: number;
  /** The run's share of the keys. */
  readonly shard: Shard;
}

/** A `consent_required` answer remembered in the shared store, so a fleet asks once per window. */
export interface SharedConsent {
  /** Until when it is remembered, epoch milliseconds. */
  readonly until: number;
  /** The broker's consent-start URL given to callers, when there is one. */
  readonly consentUrl: string | undefined;
  /** The provider's `error` and `error_description`. */
  readonly error: string | undefined;
  readonly errorDescription: string | undefined;
}

/**
 * The answer of {@link SharedTokenStore.claimForcedRefresh}: `claimed` (the caller holds the
 * lease and replaces the token), `limited` (the token is still stored, no refresh runs, and
 * the key had its forced refresh within the interval: serve it), `busy` (another token is
 * stored, or a refresh of it is under way: wait for that one).
 */
export type ForcedClaim = 'claimed' | 'limited' | 'busy';

/**
 * A cache shared by all broker instances (DynamoDB when deployed). The in-process LRU
 * stays in front of it. Implementations seal tokens at rest and never depend on the
 * store's own expiry for correctness.
 *
 * Leases are fenced: `holder` is unique per acquisition, and a token written under a lease
 * is accepted only while that lease is the latest one granted on the key, so a holder that
 * finishes after its lease lapsed and another instance took over cannot overwrite the
 * newer token.
 */
export interface SharedTokenStore {
  /** The token stored under `key`, or undefined (missing, unreadable, or sealed under another key). */
  get(key: string): Promise<CachedToken | undefined>;
  /**
   * Stores the token and releases `holder`'s lease on `key`. With `holder`, only while
   * that lease is the latest granted (or none was and no token is stored); without, only
   * when no newer token (by `obtainedAt`) is stored. Also forgets a remembered consent answer.
   * False when the token was not stored for one of these reasons.
   */
  put(key: string, descriptor: TokenDescriptor, token: CachedToken, holder?: string): Promise<boolean>;
  /**
   * Tries to become the one refresher of `key` for `leaseMs` (conditional write:
   * no lease, or an expired one). True when `holder` now holds it.
   */
  acquireLease(key: string, descriptor: TokenDescriptor, holder: string, leaseMs: number): Promise<boolean>;
  /** Extends `holder`'s lease to `leaseMs` from now; false when the lease is no longer `holder`'s. */
  renewLease(key: string, holder: string, leaseMs: number): Promise<boolean>;
  /** Gives the lease up early (after a failed refresh). */
  releaseLease(key: string, holder: string): Promise<void>;
  /**
   * Claims the forced refresh of the token stored under `key` that was obtained at
   * `obtainedAt` (a caller reported it refused): in one conditional write, takes the lease
   * for `holder` and records `forcedAt`, only while that token is still the one stored, no
   * other lease is live and no forced refresh of `key` began within `intervalMs`. See
   * {@link ForcedClaim} for the answers.
   */
  claimForcedRefresh(
    key: string,
    holder: string,
    leaseMs: number,
    obtainedAt: number,
    intervalMs: number,
  ): Promise<ForcedClaim>;
  /** A remembered `consent_required` of `key` that is still current, or undefined. */
  getConsentRequired(key: string): Promise<SharedConsent | undefined>;
  /** Remembers a `consent_required` of `key` (sealed like tokens) until `consent.until`. */
  putConsentRequired(key: string, descriptor: TokenDescriptor, consent: SharedConsent): Promise<void>;
  /**
   * Records DPoP proof `id` (`lib/dpop/replay.ts` `proofId`) as used until `freshUntil`
   * (epoch ms), atomically for the fleet. False when it was recorded before (a replay).
   */
  claimProof(id: string, freshUntil: number): Promise<boolean>;
  /** Records that a caller was served from `key` (for the scheduled refresh). May be batched. */
  touch(key: string): Promise<void>;
  /**
   * The entries of `query.shard` whose token is due (entered its refresh margin before
   * `query.now`) and that were used since `query.usedSince`; due entries used earlier are
   * taken out of the schedule instead of listed. Reads what is due, not the whole store.
   */
  listDue(query: DueQuery): Promise<readonly SharedEntry[]>;
}
