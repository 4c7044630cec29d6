/** What the cache key is made of (DESIGN.md; issue "assertion, exchange and cache"). */
export interface TokenDescriptor {
  readonly profile: string;
  readonly issuer: string;
  readonly subject: string;
  /** Assertion audience, arrays joined with a space. */
  readonly audience: string;
  readonly grant: string;
  /** Scopes, sorted. */
  readonly scopes: readonly string[];
  /** The profile's extra request parameters as written (references, never resolved values). */
  readonly params?: Readonly<Record<string, string>> | undefined;
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

/**
 * A cache shared by all broker instances (DynamoDB when deployed). The in-process LRU
 * stays in front of it. Implementations seal tokens at rest and never depend on the
 * store's own expiry for correctness.
 */
export interface SharedTokenStore {
  /** The token stored under `key`, or undefined (missing, unreadable, or sealed under another key). */
  get(key: string): Promise<CachedToken | undefined>;
  /** Stores the token and releases any lease `holder` had on `key`. */
  put(key: string, descriptor: TokenDescriptor, token: CachedToken, holder?: string): Promise<void>;
  /**
   * Tries to become the one refresher of `key` for `leaseMs` (conditional write:
   * no lease, or an expired one). True when `holder` now holds it.
   */
  acquireLease(key: string, descriptor: TokenDescriptor, holder: string, leaseMs: number): Promise<boolean>;
  /** Gives the lease up early (after a failed refresh). */
  releaseLease(key: string, holder: string): Promise<void>;
  /** Records that a caller was served from `key` (for the scheduled refresh). May be batched. */
  touch(key: string): Promise<void>;
  /** Entries used since `usedSince` whose token expires before `expiringBefore` (epoch ms). */
  listExpiring(usedSince: number, expiringBefore: number): Promise<readonly SharedEntry[]>;
}
