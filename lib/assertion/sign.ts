import { BrokerError, KeystoreError } from '../errors.ts';
import type { Profile } from '../config/types.ts';
import type { KeyMaterial } from '../keystore/types.ts';
import { localSigner } from '../signer/local.ts';
import type { Signer } from '../signer/types.ts';
import { buildClaims, type AssertionClaims } from './claims.ts';
import { buildHeader } from './header.ts';

/** What {@link signAssertion} needs. */
export interface SignAssertionInput {
  readonly profile: Pick<
    Profile,
    'name' | 'issuer' | 'audience' | 'tokenUri' | 'grant' | 'scopeIn' | 'assertion'
  >;
  /** The profile's signer (lib/signer), or opened key material to sign with in memory. */
  readonly key: Signer | KeyMaterial;
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

function isSigner(key: Signer | KeyMaterial): key is Signer {
  return typeof (key as Partial<Signer>).sign === 'function';
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Signs an RFC 7523 assertion with the profile's key: the §2.1 authorization grant
 * (`grant: jwt-bearer`, sub = the subject) or §2.2 client authentication
 * (`grant: client-assertion`, iss = sub = client id, aud = the token endpoint).
 * Every call has a new random `jti`.
 *
 * @throws ConfigError `ERR_CONFIG` (missing subject, reserved extra claim, header the key cannot supply).
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` when the key cannot sign with the chosen algorithm.
 * @throws KmsError `ERR_KMS_*` when a KMS key cannot sign.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export async function signAssertion(input: SignAssertionInput): Promise<SignedAssertion> {
  const signer = isSigner(input.key) ? input.key : localSigner(input.key);
  const header = buildHeader(input.profile.name, input.profile.assertion, signer);
  const claims = buildClaims(input);
  // RFC 7515 §5.1: BASE64URL(UTF8(header)) '.' BASE64URL(payload), then its signature.
  const signingInput = `${encode(header)}.${encode(claims)}`;
  try {
    const signature = await signer.sign(header.alg, Buffer.from(signingInput));
    return { jwt: `${signingInput}.${Buffer.from(signature).toString('base64url')}`, claims };
  } catch (err) {
    if (err instanceof BrokerError) {
      if (err.code !== 'ERR_UNSUPPORTED_KEY') throw err;
    }
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `profile "${input.profile.name}": the ${signer.description} cannot sign ${header.alg}; choose an algorithm that suits the key`,
      { cause: err },
    );
  }
}
