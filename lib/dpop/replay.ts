/**
 * The proofs a broker instance has accepted, so the same proof is not accepted twice
 * while it is fresh (RFC 9449 §11.1). Keyed by {@link proofId}: the proof key's
 * thumbprint, the token endpoint (`htm`, `htu`) and `jti`.
 *
 * The record is bounded and never forgets a proof that is still fresh: when it is full of
 * fresh proofs, a new proof is refused (`full`) until the oldest goes stale, rather than
 * the oldest forgotten (which would let it be replayed).
 */
import { hash } from 'node:crypto';

/** Proofs remembered at most; when all are fresh, new proofs wait for the oldest to go stale. */
export const MAX_REMEMBERED_PROOFS = 10_000;

/** What {@link ProofReplayCache.claim} decided. */
export type ReplayVerdict = 'accepted' | 'replayed' | 'full';

/**
 * The id of a proof in the replay records (this instance's and the shared table's):
 * base64url SHA-256 over the key thumbprint, the endpoint's method and URI, and `jti`.
 */
export function proofId(
  proof: { readonly thumbprint: string; readonly jti: string },
  endpoint: { readonly method: string; readonly url: string },
): string {
  return hash(
    'sha256',
    JSON.stringify([proof.thumbprint, endpoint.method, endpoint.url, proof.jti]),
    'base64url',
  );
}

/** Fresh proofs seen, each until its `freshUntil`. */
export class ProofReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max: number = MAX_REMEMBERED_PROOFS) {
    this.#max = max;
  }

  /**
   * Records proof `id`: `replayed` when it is remembered and still fresh, `full` (nothing
   * recorded) when every remembered proof is still fresh and there is no room, else
   * `accepted`.
   */
  claim(proof: { readonly id: string; readonly freshUntil: number }, now: number): ReplayVerdict {
    const until = this.#seen.get(proof.id);
    if (until !== undefined && until >= now) return 'replayed';
    this.#seen.delete(proof.id);
    this.#sweep(now, false);
    if (this.#seen.size >= this.#max) this.#sweep(now, true);
    if (this.#seen.size >= this.#max) return 'full';
    this.#seen.set(proof.id, proof.freshUntil);
    return 'accepted';
  }

  /** Milliseconds until the oldest remembered proof goes stale (room for one more), at least 1. */
  retryAfterMs(now: number): number {
    let oldest = Infinity;
    for (const until of this.#seen.values()) oldest = Math.min(oldest, until);
    return oldest === Infinity ? 1 : Math.max(1, oldest - now + 1);
  }

  /** How many proofs are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /** Forgets stale proofs: the leading ones (insertion order is close to freshUntil order), or `all`. */
  #sweep(now: number, all: boolean): void {
    for (const [id, until] of this.#seen) {
      if (until >= now) {
        if (all) continue;
        break;
      }
      this.#seen.delete(id);
    }
  }
}
