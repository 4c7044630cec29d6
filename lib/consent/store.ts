import { ConsentError } from '../errors.ts';

/** One recorded consent outcome. */
export interface ConsentRecord {
  readonly profile: string;
  readonly subject: string;
  /** Epoch milliseconds. */
  readonly at: number;
  /** `granted` when the JWT grant worked after consent; otherwise the error code seen. */
  readonly outcome: string;
}

/**
 * Where consent nonces and outcomes are kept: in memory locally, DynamoDB when deployed.
 */
export interface ConsentStore {
  /**
   * Records a state nonce as used, atomically. False when it was used before (a replay).
   * `expiresAt` (epoch ms) lets the store forget it after the state could no longer verify.
   */
  useNonce(nonce: string, expiresAt: number): Promise<boolean>;
  /**
   * Records a nonce as started, for a store with bounded room (memory). Stores without it
   * (DynamoDB, which expires items by TTL) are never full.
   * @throws ConsentError `ERR_CONSENT_BUSY` (with `retry_after` seconds) when full
   */
  reserveNonce?(nonce: string, expiresAt: number): Promise<void>;
  /** Records the outcome of a consent. */
  record(record: ConsentRecord): Promise<void>;
  /** The latest record for a profile and subject. */
  latest(profile: string, subject: string): Promise<ConsentRecord | undefined>;
}

/** Bound on the nonces kept in memory, started or used, until their states expire. */
export const MEMORY_NONCE_LIMIT = 10_000;

/** The refusal when the memory store is full of live nonces: retry once the oldest expires. */
function busy(retryAfterMs: number): ConsentError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ConsentError(
    'ERR_CONSENT_BUSY',
    `too many consents are under way on this server; try again in ${seconds} s`,
    { details: { retry_after: seconds } },
  );
}

/**
 * An in-process consent store for the local server and tests. It holds at most `limit`
 * nonces and never forgets one before its state expires (a forgotten nonce could be
 * replayed): when full of live ones it refuses new starts with `ERR_CONSENT_BUSY`.
 */
export function createMemoryConsentStore(
  clock: () => number = Date.now,
  limit: number = MEMORY_NONCE_LIMIT,
): ConsentStore {
  const nonces = new Map<string, { readonly expiresAt: number; used: boolean }>();
  const records = new Map<string, ConsentRecord>();
  const keyOf = (profile: string, subject: string): string => JSON.stringify([profile, subject]);
  /** Room for one more nonce, dropping expired ones (a state past expiresAt never verifies). */
  const makeRoom = (): void => {
    if (nonces.size < limit) return;
    const now = clock();
    let oldest = Infinity;
    for (const [n, entry] of nonces) {
      if (entry.expiresAt < now) nonces.delete(n);
      else oldest = Math.min(oldest, entry.expiresAt);
    }
    if (nonces.size >= limit) throw busy(oldest - now + 1);
  };
  return {
    reserveNonce(nonce, expiresAt) {
      try {
        makeRoom();
      } catch (err) {
        return Promise.reject(err);
      }
      nonces.set(nonce, { expiresAt, used: false });
      return Promise.resolve();
    },
    useNonce(nonce, expiresAt) {
      const entry = nonces.get(nonce);
      if (entry) {
        if (entry.used) return Promise.resolve(false);
        entry.used = true;
        return Promise.resolve(true);
      }
      try {
        makeRoom();
      } catch (err) {
        return Promise.reject(err);
      }
      nonces.set(nonce, { expiresAt, used: true });
      return Promise.resolve(true);
    },
    record(record) {
      records.set(keyOf(record.profile, record.subject), record);
      return Promise.resolve();
    },
    latest(profile, subject) {
      return Promise.resolve(records.get(keyOf(profile, subject)));
    },
  };
}
