import { SignJWT, type JWTPayload } from 'jose';
import { KeystoreError } from '../errors.ts';
import type { Profile } from '../config/types.ts';
import type { KeyMaterial } from '../keystore/types.ts';
import { buildClaims, type AssertionClaims } from './claims.ts';
import { buildHeader } from './header.ts';

/** What {@link signAssertion} needs. */
export interface SignAssertionInput {
  readonly profile: Pick<
    Profile,
    'name' | 'issuer' | 'audience' | 'tokenUri' | 'grant' | 'scopeIn' | 'assertion'
  >;
  readonly key: KeyMaterial;
  /** The subject for the §2.1 grant; ignored for §2.2 client authentication. */
  readonly subject: string | undefined;
  readonly scopes: readonly string[];
  /** Our clock, epoch milliseconds. */
  readonly now: number;
  /** Milliseconds to add to `now`: the provider's clock offset, after a skew rejection. */
  readonly clockOffset?: number;
  /** Source of `jti`; default `crypto.randomUUID`. */
  readonly randomId?: () => string;
}

/** A signed assertion. `jwt` is a credential: never log it. */
export interface SignedAssertion {
  readonly jwt: string;
  readonly claims: AssertionClaims;
}

/**
 * Signs an RFC 7523 assertion with the profile's key: the §2.1 authorization grant
 * (`grant: jwt-bearer`, sub = the subject) or §2.2 client authentication
 * (`grant: client-assertion`, iss = sub = client id, aud = the token endpoint).
 * Every call has a new random `jti`.
 *
 * @throws ConfigError `ERR_CONFIG` (missing subject, reserved extra claim, header the key cannot supply).
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` when the key cannot sign with the chosen algorithm.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function signAssertion(input: SignAssertionInput): Promise<SignedAssertion> {
  const header = buildHeader(input.profile.name, input.profile.assertion, input.key);
  const claims = buildClaims(input);
  const payload = { ...claims } as JWTPayload;
  if (Array.isArray(claims.aud)) payload.aud = [...(claims.aud as readonly string[])];
  try {
    const jwt = await new SignJWT(payload).setProtectedHeader(header).sign(input.key.privateKey);
    return { jwt, claims };
  } catch (err) {
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `profile "${input.profile.name}": the ${input.key.privateKey.asymmetricKeyType ?? 'configured'} key cannot sign ${header.alg}; choose an algorithm that suits the key`,
      { cause: err },
    );
  }
}
