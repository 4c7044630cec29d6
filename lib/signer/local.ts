import { constants, sign as cryptoSign } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { algorithmsFor, describeKey, keyPhrase } from '../keystore/algorithm.ts';
import type { JwsAlgorithm, KeyMaterial } from '../keystore/types.ts';
import { JWS_HASHES, type Signer } from './types.ts';

/** Byte length of each curve's coordinates, for the JOSE `r || s` form. */
const EC_COORDINATE_BYTES: Readonly<Record<string, number>> = { ES256: 32, ES384: 48, ES512: 66 };

/**
 * A signer over key material opened in memory (lib/keystore). RSASSA-PSS uses a salt as
 * long as the hash, as RFC 7518 §3.5 requires; ECDSA answers in the JOSE form.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3
 */
export function localSigner(key: KeyMaterial): Signer {
  const description = describeKey(key.privateKey);
  const algorithms = algorithmsFor(description);
  return {
    description: keyPhrase(description),
    algorithms,
    jwsAlgorithm: key.jwsAlgorithm,
    kid: key.kid,
    x5t: key.x5t,
    x5tS256: key.x5tS256,
    certificates: key.certificates,
    notAfter: key.notAfter,
    async sign(algorithm: JwsAlgorithm, input: Uint8Array): Promise<Uint8Array> {
      if (!algorithms.includes(algorithm))
        throw new KeystoreError(
          'ERR_UNSUPPORTED_KEY',
          `the ${keyPhrase(description)} cannot sign ${algorithm}; use ${algorithms.join(', ') || 'another key'} or auto`,
        );
      const hash = JWS_HASHES[algorithm];
      const options = algorithm.startsWith('PS')
        ? {
            key: key.privateKey,
            padding: constants.RSA_PKCS1_PSS_PADDING,
            saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
          }
        : EC_COORDINATE_BYTES[algorithm] !== undefined
          ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' as const }
          : key.privateKey;
      return cryptoSign(hash, input, options);
    },
  };
}
