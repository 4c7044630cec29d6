/**
 * The proofs a broker instance has accepted, so the same proof is not accepted twice
 * while it is fresh (RFC 9449 §11.1). Keyed by the proof key's thumbprint and `jti`.
 */
import { hash } from 'node:crypto';

/** Proofs remembered at most; the oldest is forgotten first (it is the next to go stale). */
export const MAX_REMEMBERED_PROOFS = 10_000;

/** Fresh proofs seen, each until its `freshUntil`. */
export class ProofReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #max: number;

  constructor(max: number = MAX_REMEMBERED_PROOFS) {
    this.#max = max;
  }

  /**
   * Records a proof; false when the same key already used this `jti` and that proof is
   * still remembered (a replay).
   */
  claim(
    proof: { readonly thumbprint: string; readonly jti: string; readonly freshUntil: number },
    now: number,
  ): boolean {
    const id = hash('sha256', `${proof.thumbprint}.${proof.jti}`, 'base64url');
    const until = this.#seen.get(id);
    if (until !== undefined && until >= now) return false;
    this.#sweep(now);
    this.#seen.delete(id);
    this.#seen.set(id, proof.freshUntil);
    return true;
  }

  /** How many proofs are remembered. */
  get size(): number {
    return this.#seen.size;
  }

  #sweep(now: number): void {
    // Insertion order is close to freshUntil order (every entry lives one window after its iat).
    for (const [id, until] of this.#seen) {
      if (until >= now && this.#seen.size < this.#max) break;
      this.#seen.delete(id);
    }
  }
}
