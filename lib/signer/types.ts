import type { X509Certificate } from 'node:crypto';
import type { JwsAlgorithm } from '../keystore/types.ts';

/**
 * What the assertion header may carry about a key: its default algorithm, key id and
 * certificate thumbprints. A {@link KeyMaterial} from lib/keystore has this shape, and so
 * has a KMS key with its `certificate:`.
 */
export interface HeaderMaterial {
  readonly jwsAlgorithm: JwsAlgorithm;
  readonly kid: string | undefined;
  readonly x5t: string | undefined;
  readonly x5tS256: string | undefined;
  /** The certificate chain, leaf first; empty when there is none. */
  readonly certificates: readonly X509Certificate[];
  /** Leaf certificate expiry, when there is a certificate. */
  readonly notAfter: Date | undefined;
}

/**
 * Signs JWS signing inputs with one key: a private key in memory, or a key that never
 * leaves AWS KMS. The rest of the broker sees only this.
 */
export interface Signer extends HeaderMaterial {
  /** What the key is, for messages: `RSA 2048-bit key`, `KMS key 1234abcd-…`. */
  readonly description: string;
  /** The JWS algorithms the key can sign with. */
  readonly algorithms: readonly JwsAlgorithm[];
  /**
   * The JWS signature (RFC 7515 §5.1 step 5) of `input` with `algorithm`: for ECDSA the
   * JOSE `r || s` form (RFC 7518 §3.4), never DER.
   *
   * @throws KeystoreError `ERR_UNSUPPORTED_KEY` when the key cannot sign with `algorithm`.
   * @throws KmsError `ERR_KMS_ACCESS_DENIED`, `ERR_KMS_UNAVAILABLE`, `ERR_KMS_KEY_STATE` (KMS keys).
   * @see https://www.rfc-editor.org/rfc/rfc7515#section-5.1
   */
  sign(algorithm: JwsAlgorithm, input: Uint8Array): Promise<Uint8Array>;
}

/** The hash of each JWS algorithm (EdDSA hashes inside the signature scheme). */
export const JWS_HASHES: Readonly<Record<JwsAlgorithm, 'sha256' | 'sha384' | 'sha512' | null>> = {
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  EdDSA: null,
};
