import type { KeyObject } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { OAuthFailure } from './oauth-failure.ts';

/** Accepted clock difference for `nbf` / `iat` / `exp`, seconds. */
export const LEEWAY_SECONDS = 60;

/** JWS algorithms a public key may verify (RFC 7518 §3.1, RFC 8037). */
export function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      return [];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/** What an assertion is checked against. */
export interface AssertionPolicy {
  readonly key: KeyObject;
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Longest accepted `exp - iat` (and `exp - now`), seconds. */
  readonly maxLifetime: number;
  /** Epoch milliseconds. */
  readonly now: number;
  /**
   * OAuth error for a bad assertion: `invalid_grant` (§2.1 grant), `invalid_client` (§2.2),
   * or `invalid_request` (an RFC 8693 subject token, §2.2.2).
   */
  readonly error: 'invalid_grant' | 'invalid_client' | 'invalid_request';
}

function describeJoseError(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the assertion has expired (exp is in the past)';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'the assertion is not yet valid (nbf is in the future)';
    if (err.claim === 'aud') return 'the assertion aud does not name this token endpoint';
    if (err.claim === 'iss') return 'the assertion iss is not the registered client';
    return `the assertion claim "${err.claim}" is invalid: ${err.reason}`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return 'the assertion signature does not verify with the registered certificate';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the assertion alg does not suit the registered key';
  return 'the assertion is not a valid signed JWT';
}

/**
 * Verifies an RFC 7523 assertion strictly: signature with the registered key, `alg`
 * suited to that key, `iss`, `aud`, `exp` required, `jti` required, `nbf`/`iat` not in
 * the future beyond {@link LEEWAY_SECONDS}, lifetime at most `maxLifetime`.
 *
 * @throws OAuthFailure with `policy.error`.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function verifyAssertion(jwt: string, policy: AssertionPolicy): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, policy.key, {
      algorithms: algorithmsFor(policy.key),
      issuer: policy.issuer,
      audience: [...policy.audiences],
      clockTolerance: LEEWAY_SECONDS,
      currentDate: new Date(policy.now),
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    throw new OAuthFailure(policy.error, describeJoseError(err));
  }
  const now = Math.floor(policy.now / 1000);
  const exp = payload.exp!;
  if (payload.iat !== undefined && payload.iat > now + LEEWAY_SECONDS)
    throw new OAuthFailure(policy.error, 'the assertion is not yet valid (iat is in the future)');
  const span = exp - (payload.iat ?? now);
  if (span > policy.maxLifetime || exp - now > policy.maxLifetime + LEEWAY_SECONDS)
    throw new OAuthFailure(
      policy.error,
      `the assertion lifetime exceeds ${policy.maxLifetime} seconds (exp)`,
    );
  if (typeof payload.jti !== 'string' || payload.jti === '')
    throw new OAuthFailure(policy.error, 'the assertion has no jti');
  return payload;
}
