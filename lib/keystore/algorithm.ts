import type { KeyObject } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import type { JwsAlgorithm } from './types.ts';

/** What a key is, for listings and messages. Holds no secret. */
export interface KeyDescription {
  /** `RSA`, `RSA-PSS`, `EC`, `Ed25519`, `Ed448`, `DSA`… */
  readonly keyAlgorithm: string;
  /** Modulus length for RSA, field size for EC, 256 for Ed25519. */
  readonly keySize: number | undefined;
  /** JOSE curve name for EC keys (`P-256`…), or the OpenSSL name when JOSE has none. */
  readonly curve: string | undefined;
}

/** The key types and sizes the broker signs with, for error messages. */
export const SUPPORTED_KEYS = 'RSA 2048 to 4096 bits, EC P-256, P-384 or P-521, or Ed25519';

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;

const CURVES: Readonly<Record<string, { readonly jose: string; readonly bits: number }>> = {
  prime256v1: { jose: 'P-256', bits: 256 },
  secp384r1: { jose: 'P-384', bits: 384 },
  secp521r1: { jose: 'P-521', bits: 521 },
  secp256k1: { jose: 'secp256k1', bits: 256 },
};

const EC_ALGORITHMS: Readonly<Record<string, JwsAlgorithm>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};

const RSA_ALGORITHMS: readonly JwsAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const PSS_ALGORITHMS: readonly JwsAlgorithm[] = ['PS256', 'PS384', 'PS512'];

/** Describes a public or private key: algorithm, size and curve. */
export function describeKey(key: KeyObject): KeyDescription {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { keyAlgorithm: 'RSA', keySize: details.modulusLength, curve: undefined };
    case 'rsa-pss':
      return { keyAlgorithm: 'RSA-PSS', keySize: details.modulusLength, curve: undefined };
    case 'ec': {
      const named = details.namedCurve ?? 'unknown';
      const curve = CURVES[named];
      return { keyAlgorithm: 'EC', keySize: curve?.bits, curve: curve?.jose ?? named };
    }
    case 'ed25519':
      return { keyAlgorithm: 'Ed25519', keySize: 256, curve: undefined };
    case 'ed448':
      return { keyAlgorithm: 'Ed448', keySize: 456, curve: undefined };
    case 'dsa':
      return { keyAlgorithm: 'DSA', keySize: details.modulusLength, curve: undefined };
    default:
      return { keyAlgorithm: key.asymmetricKeyType ?? 'unknown', keySize: undefined, curve: undefined };
  }
}

/** A short phrase naming a key, e.g. `RSA 2048-bit key` or `EC secp256k1 key`. */
export function keyPhrase(description: KeyDescription): string {
  if (description.curve) return `${description.keyAlgorithm} ${description.curve} key`;
  if (description.keyAlgorithm.startsWith('RSA') || description.keyAlgorithm === 'DSA')
    return `${description.keyAlgorithm} ${description.keySize ?? '?'}-bit key`;
  return `${description.keyAlgorithm} key`;
}

/** The JWS algorithms a key may sign with; empty when the broker does not support the key. */
export function algorithmsFor(description: KeyDescription): readonly JwsAlgorithm[] {
  const { keyAlgorithm, keySize, curve } = description;
  if (keyAlgorithm === 'RSA' || keyAlgorithm === 'RSA-PSS') {
    if (keySize === undefined || keySize < MIN_RSA_BITS || keySize > MAX_RSA_BITS) return [];
    return keyAlgorithm === 'RSA' ? RSA_ALGORITHMS : PSS_ALGORITHMS;
  }
  if (keyAlgorithm === 'EC') {
    const algorithm = curve === undefined ? undefined : EC_ALGORITHMS[curve];
    return algorithm ? [algorithm] : [];
  }
  if (keyAlgorithm === 'Ed25519') return ['EdDSA'];
  return [];
}

/**
 * Picks the JWS algorithm for a key: the wanted one when it suits the key, else the key's
 * default (RS256, ES256/384/512 by curve, EdDSA; `preferred` when the source names one).
 *
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` when the key type or size is not supported,
 *   or the wanted algorithm does not suit the key.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc8037#section-3.1
 */
export function chooseAlgorithm(
  description: KeyDescription,
  wanted: 'auto' | JwsAlgorithm = 'auto',
  preferred?: JwsAlgorithm,
): JwsAlgorithm {
  const allowed = algorithmsFor(description);
  const phrase = keyPhrase(description);
  if (allowed.length === 0)
    throw new KeystoreError('ERR_UNSUPPORTED_KEY', `${phrase} is not supported; use ${SUPPORTED_KEYS}`);
  if (wanted !== 'auto') {
    if (allowed.includes(wanted)) return wanted;
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `algorithm ${wanted} does not suit an ${phrase}; use ${allowed.join(', ')} or auto`,
    );
  }
  if (preferred !== undefined && allowed.includes(preferred)) return preferred;
  return allowed[0]!;
}
