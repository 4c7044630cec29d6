/**
 * The broker's side of DPoP (RFC 9449) with the caller's own key: the profile's `dpop`
 * setting, the proof checks and replay refusal, before any upstream call.
 */
import type { Profile } from '../config/types.ts';
import { checkProof, proofTarget } from '../dpop/proof.ts';
import { ProofReplayCache } from '../dpop/replay.ts';
import { RequestError } from '../errors.ts';
import type { ResolvedRequest } from './request.ts';
import type { Clock } from '../types.ts';

/** A checked proof to forward, and the key it binds the token to. */
export interface DpopBinding {
  /** The proof as received (a credential: never log it). */
  readonly proof: string;
  /** RFC 7638 thumbprint of the proof's key: part of the cache key. */
  readonly thumbprint: string;
}

/** Checks the `DPoP` header of token requests against their profile. */
export class DpopGate {
  readonly #clock: Clock;
  readonly #seen = new ProofReplayCache();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /**
   * The binding of a request: undefined without a proof on a profile that does not need
   * one; otherwise the proof after every RFC 9449 §4.3 check, recorded so the same proof
   * is refused while it is fresh.
   *
   * @throws RequestError `ERR_DPOP_PROOF` for a missing proof (`dpop: required`), a proof to
   * a profile with `dpop: off`, a proof that fails a check, or a replayed proof.
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
   */
  async check(profile: Profile, proof: string | undefined): Promise<DpopBinding | undefined> {
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
    if (!this.#seen.claim(checked, now))
      throw new RequestError(
        'ERR_DPOP_PROOF',
        'DPoP proof refused: this proof was already used; sign a new one (with a new jti) for every request',
      );
    return { proof: proof.trim(), thumbprint: checked.thumbprint };
  }
}

/** The request with its DPoP binding: the proof to forward and the thumbprint in its cache key. */
export function withDpop(resolved: ResolvedRequest, binding: DpopBinding | undefined): ResolvedRequest {
  if (binding === undefined) return resolved;
  return { ...resolved, dpop: binding, descriptor: { ...resolved.descriptor, dpopJkt: binding.thumbprint } };
}
