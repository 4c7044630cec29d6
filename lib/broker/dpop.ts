/**
 * The broker's side of DPoP (RFC 9449) with the caller's own key: the profile's `dpop`
 * setting, the proof checks and replay refusal, before any upstream call.
 */
import type { SharedTokenStore } from '../cache/types.ts';
import type { Profile } from '../config/types.ts';
import { NewKeyLimit } from '../dpop/key-limit.ts';
import { checkProof, proofTarget } from '../dpop/proof.ts';
import { ProofReplayCache, proofId } from '../dpop/replay.ts';
import { RequestError } from '../errors.ts';
import type { ResolvedRequest } from './request.ts';
import type { Clock } from '../types.ts';

/** A 503 + Retry-After for a bound of this instance. */
function limited(message: string, retryAfterMs: number): RequestError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new RequestError('ERR_DPOP_LIMIT', `${message}; try again in ${seconds} s`, {
    details: { retry_after: seconds },
  });
}

const REPLAYED =
  'DPoP proof refused: this proof was already used; sign a new one (with a new jti) for every request';

/** A checked proof to forward, and the key it binds the token to. */
export interface DpopBinding {
  /** The proof as received (a credential: never log it). */
  readonly proof: string;
  /** RFC 7638 thumbprint of the proof's key: part of the cache key. */
  readonly thumbprint: string;
}

/** Options of {@link DpopGate}. */
export interface DpopGateOptions {
  /** The fleet's shared table: a proof used on one instance is refused by all. */
  readonly shared?: Pick<SharedTokenStore, 'claimProof'> | undefined;
  /** This instance's replay record; default one of `MAX_REMEMBERED_PROOFS`. */
  readonly replay?: ProofReplayCache;
  /** The bound on new proof keys per caller; default `MAX_NEW_KEYS_PER_CALLER` a minute. */
  readonly newKeys?: NewKeyLimit;
}

/** Checks the `DPoP` header of token requests against their profile. */
export class DpopGate {
  readonly #clock: Clock;
  readonly #seen: ProofReplayCache;
  readonly #shared: Pick<SharedTokenStore, 'claimProof'> | undefined;
  readonly #newKeys: NewKeyLimit;

  constructor(clock: Clock, options: DpopGateOptions = {}) {
    this.#clock = clock;
    this.#shared = options.shared;
    this.#seen = options.replay ?? new ProofReplayCache();
    this.#newKeys = options.newKeys ?? new NewKeyLimit();
  }

  /**
   * The binding of a request: undefined without a proof on a profile that does not need
   * one; otherwise the proof after every RFC 9449 §4.3 check, recorded (in this instance
   * and in the shared table) so the same proof is refused while it is fresh.
   *
   * @throws RequestError `ERR_DPOP_PROOF` for a missing proof (`dpop: required`), a proof to
   * a profile with `dpop: off`, a proof that fails a check, or a replayed proof;
   * `ERR_DPOP_LIMIT` (503, `retry_after`) when `caller` brought more than
   * `MAX_NEW_KEYS_PER_CALLER` keys within `NEW_KEY_WINDOW_MS`, or this instance's replay
   * record is full of fresh proofs.
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
   */
  async check(
    profile: Profile,
    proof: string | undefined,
    caller?: string,
  ): Promise<DpopBinding | undefined> {
    const target = proofTarget(profile.tokenUri);
    if (proof === undefined || proof === '') {
      if (profile.dpop !== 'required') return undefined;
      throw new RequestError(
        'ERR_DPOP_PROOF',
        `profile "${profile.name}" binds tokens to the caller's key: send a DPoP header with a proof ` +
          `(RFC 9449 §4) signed by your key, with htm "${target.dpop_htm}" and htu "${target.dpop_htu}"; ` +
          'token-broker/client does this with dpop: true',
        { details: target },
      );
    }
    if (profile.dpop === 'off')
      throw new RequestError(
        'ERR_DPOP_PROOF',
        `profile "${profile.name}" does not use DPoP; send no DPoP header, or set dpop: optional in the profile`,
      );
    const now = this.#clock();
    const checked = await checkProof(proof, {
      method: profile.tokenUri.method,
      url: profile.tokenUri.url,
      now,
    });
    if (caller !== undefined) {
      const wait = this.#newKeys.admit(caller, checked.thumbprint, now);
      if (wait !== undefined)
        throw limited(
          'too many new DPoP keys from this caller (each costs an upstream token request); reuse a key',
          wait,
        );
    }
    const id = proofId(checked, profile.tokenUri);
    const verdict = this.#seen.claim({ id, freshUntil: checked.freshUntil }, now);
    if (verdict === 'full')
      throw limited(
        'too many fresh DPoP proofs on this server to remember another',
        this.#seen.retryAfterMs(now),
      );
    if (verdict === 'replayed') throw new RequestError('ERR_DPOP_PROOF', REPLAYED);
    if (this.#shared && !(await this.#shared.claimProof(id, checked.freshUntil)))
      throw new RequestError('ERR_DPOP_PROOF', REPLAYED);
    return { proof: proof.trim(), thumbprint: checked.thumbprint };
  }
}

/** The request with its DPoP binding: the proof to forward and the thumbprint in its cache key. */
export function withDpop(resolved: ResolvedRequest, binding: DpopBinding | undefined): ResolvedRequest {
  if (binding === undefined) return resolved;
  return { ...resolved, dpop: binding, descriptor: { ...resolved.descriptor, dpopJkt: binding.thumbprint } };
}
