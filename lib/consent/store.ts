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
  /** Records the outcome of a consent. */
  record(record: ConsentRecord): Promise<void>;
  /** The latest record for a profile and subject. */
  latest(profile: string, subject: string): Promise<ConsentRecord | undefined>;
}

/** Bound on remembered nonces in memory; old ones are dropped first (they have expired by then). */
export const MEMORY_NONCE_LIMIT = 10_000;

/** An in-process consent store for the local server and tests. */
export function createMemoryConsentStore(clock: () => number = Date.now): ConsentStore {
  const nonces = new Map<string, number>();
  const records = new Map<string, ConsentRecord>();
  const keyOf = (profile: string, subject: string): string => JSON.stringify([profile, subject]);
  return {
    useNonce(nonce, expiresAt) {
      const now = clock();
      for (const [n, exp] of nonces) {
        if (exp >= now && nonces.size < MEMORY_NONCE_LIMIT) break;
        nonces.delete(n);
      }
      if (nonces.has(nonce)) return Promise.resolve(false);
      nonces.set(nonce, expiresAt);
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
