/**
 * Which credential a profile with `webIdentity` sends: the JWT STS signs for the function's
 * role, or, with `webIdentity.fallback: keystore`, its keystore key when STS refuses for a
 * reason a key cures (docs/keyless.md "Fallback").
 */
import type { Profile } from '../config/types.ts';
import { isBrokerError, type ErrorCode } from '../errors.ts';
import type { WebIdentitySource } from '../signer/web-identity.ts';
import type { Signer } from '../signer/types.ts';
import type { Logger } from '../types.ts';

/**
 * STS refusals a keystore key cures: the account or region does not offer the feature
 * (yet). Not a denial (an IAM policy to fix, which a fallback would hide), nor throttling
 * or an outage (passing; the caller retries), nor anything the provider answers.
 */
export const FALLBACK_CODES: readonly ErrorCode[] = ['ERR_WEB_IDENTITY_DISABLED', 'ERR_WEB_IDENTITY_REGION'];

/** The web identity JWT in place of a signer: sent as it is wherever a signed assertion goes. */
export interface WebIdentityCredential {
  readonly webIdentity: true;
  /**
   * The JWT (held by the source until shortly before its expiry); never log it.
   * `clockOffset` is the exchange's offset to the provider's clock: AWS sets the JWT's
   * times, so an offset other than the one of the exchange's first request (a clock skew
   * retry) gets a JWT STS signs afresh instead of the same one sent again.
   */
  jwt(clockOffset?: number): Promise<string>;
}

/** True when `key` is the web identity JWT rather than a key. */
export function isWebIdentity(key: Signer | WebIdentityCredential): key is WebIdentityCredential {
  return 'webIdentity' in key;
}

/**
 * The web identity credential of `profile`, or undefined when it uses its key: it has no
 * `webIdentity`, or STS refused with one of {@link FALLBACK_CODES} and it says
 * `fallback: keystore` (one warning line per fallback). Such a refusal is remembered for
 * WEB_IDENTITY_REFUSAL_MEMORY_MS: until then the key is used without asking STS.
 *
 * @throws the errors of {@link WebIdentitySource.token} otherwise.
 */
export async function webIdentityCredential(
  profile: Profile,
  source: WebIdentitySource,
  logger: Logger,
): Promise<WebIdentityCredential | undefined> {
  const settings = profile.webIdentity;
  if (settings === undefined) return undefined;
  if (settings.fallback === 'keystore' && source.remembered(settings) !== undefined) return undefined;
  try {
    await source.token(settings);
  } catch (err) {
    const code = FALLBACK_CODES.find((c) => isBrokerError(err, c));
    if (settings.fallback !== 'keystore' || code === undefined) throw err;
    source.remember(settings, err);
    logger.warn('web identity unavailable; using the keystore key (webIdentity.fallback: keystore)', {
      profile: profile.name,
      code,
    });
    return undefined;
  }
  let firstOffset: number | undefined;
  return {
    webIdentity: true,
    jwt: (clockOffset = 0) => {
      firstOffset ??= clockOffset;
      return clockOffset === firstOffset ? source.token(settings) : source.fresh(settings);
    },
  };
}
