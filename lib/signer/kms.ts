import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import type { KmsApi, KmsMessageType } from '../aws/kms.ts';
import { KeystoreError } from '../errors.ts';
import type { JwsAlgorithm } from '../keystore/types.ts';
import { derToJose, ECDSA_INTEGER_BYTES } from './ecdsa.ts';
import { isRetryableKmsError, kmsError } from './kms-errors.ts';
import { JWS_HASHES, type Signer } from './types.ts';

/** KMS takes at most this many bytes as a RAW message; longer inputs go as a DIGEST. */
export const KMS_RAW_MESSAGE_LIMIT = 4096;

/** Attempts of one KMS call when it fails with a retryable `ERR_KMS_UNAVAILABLE`. */
export const KMS_ATTEMPTS = 3;
/** First backoff between attempts, milliseconds (doubled each time, with full jitter). */
export const KMS_BACKOFF_MS = 100;

/** The KMS signing algorithm of each JWS algorithm. */
export const KMS_SIGNING_ALGORITHMS: Readonly<Record<Exclude<JwsAlgorithm, 'EdDSA'>, string>> = {
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  RS384: 'RSASSA_PKCS1_V1_5_SHA_384',
  RS512: 'RSASSA_PKCS1_V1_5_SHA_512',
  PS256: 'RSASSA_PSS_SHA_256',
  PS384: 'RSASSA_PSS_SHA_384',
  PS512: 'RSASSA_PSS_SHA_512',
  ES256: 'ECDSA_SHA_256',
  ES384: 'ECDSA_SHA_384',
  ES512: 'ECDSA_SHA_512',
};

/** Key specs the broker signs with, and their default JWS algorithm. */
const KEY_SPECS: Readonly<Record<string, JwsAlgorithm>> = {
  RSA_2048: 'RS256',
  RSA_3072: 'RS256',
  RSA_4096: 'RS256',
  ECC_NIST_P256: 'ES256',
  ECC_NIST_P384: 'ES384',
  ECC_NIST_P521: 'ES512',
};

/** What {@link openKmsSigner} needs. */
export interface KmsSignerOptions {
  readonly api: KmsApi;
  /** KMS `KeyId`: key id, key ARN, alias name or alias ARN. */
  readonly keyId: string;
  /** The certificate the provider holds (PEM, possibly a chain, or DER), for `x5t`/`x5c`. */
  readonly certificate?: Uint8Array | undefined;
  /** The profile's `assertion.algorithm`. */
  readonly algorithm?: 'auto' | JwsAlgorithm;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** A {@link Signer} over a KMS key, with what `GetPublicKey` said of it. */
export interface KmsSigner extends Signer {
  /** The key's ARN as KMS reports it. */
  readonly keyArn: string;
  readonly keySpec: string;
  /** SubjectPublicKeyInfo DER of the key. */
  readonly publicKey: Uint8Array;
  /** KMS's own signature of `input` (DER for ECDSA), as X.509 and PKCS#10 carry it. */
  signNative(algorithm: JwsAlgorithm, input: Uint8Array): Promise<Uint8Array>;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs one KMS call with {@link KMS_ATTEMPTS} attempts on retryable failures. */
export async function withKmsRetries<T>(
  call: () => Promise<T>,
  keyId: string,
  action: string,
  options: Pick<KmsSignerOptions, 'sleep' | 'random'> = {},
): Promise<T> {
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const mapped = kmsError(err, keyId, action);
      if (attempt >= KMS_ATTEMPTS || !isRetryableKmsError(mapped)) throw mapped;
      await sleep(Math.floor(random() * KMS_BACKOFF_MS * 2 ** (attempt - 1)));
    }
  }
}

function certificatesOf(bytes: Uint8Array, keyId: string): X509Certificate[] {
  const text = Buffer.from(bytes).toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  try {
    return blocks ? blocks.map((pem) => new X509Certificate(pem)) : [new X509Certificate(Buffer.from(bytes))];
  } catch (err) {
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `KMS key ${keyId}: its certificate is not a PEM or DER X.509 certificate; check the certificate reference`,
      { cause: err },
    );
  }
}

/** The JWS algorithms a key can sign with: those of its spec that KMS lists for it. */
function algorithmsOf(signingAlgorithms: readonly string[], keySpec: string): JwsAlgorithm[] {
  const fromSpec = keySpec.startsWith('RSA_')
    ? (['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const)
    : keySpec === 'ECC_NIST_P256'
      ? (['ES256'] as const)
      : keySpec === 'ECC_NIST_P384'
        ? (['ES384'] as const)
        : keySpec === 'ECC_NIST_P521'
          ? (['ES512'] as const)
          : [];
  return fromSpec.filter((alg) => signingAlgorithms.includes(KMS_SIGNING_ALGORITHMS[alg]));
}

/**
 * Opens a KMS signing key: one `GetPublicKey` (its spec, algorithms and public key), and
 * the certificate checked against that public key. Signing sends the JWS signing input as
 * a RAW message when it fits {@link KMS_RAW_MESSAGE_LIMIT}, else its digest.
 *
 * @throws KmsError `ERR_KMS_ACCESS_DENIED`, `ERR_KMS_UNAVAILABLE`, `ERR_KMS_KEY_STATE`.
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` (not an RSA/ECC NIST signing key, or the
 *   wanted algorithm does not suit it), `ERR_KEY_CERT_MISMATCH`, `ERR_KEYSTORE_FORMAT`.
 * @see https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3
 */
export async function openKmsSigner(options: KmsSignerOptions): Promise<KmsSigner> {
  const { api, keyId } = options;
  const key = await withKmsRetries(() => api.getPublicKey(keyId), keyId, 'GetPublicKey', options);
  const fallback = KEY_SPECS[key.keySpec];
  const algorithms = algorithmsOf(key.signingAlgorithms, key.keySpec);
  const described = `KMS key ${keyId} (${key.keySpec || 'unknown spec'})`;
  if (key.keyUsage !== 'SIGN_VERIFY' || fallback === undefined || algorithms.length === 0)
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `${described} is not a signing key the broker supports; use a SIGN_VERIFY key of spec RSA_2048/3072/4096 or ECC_NIST_P256/P384/P521`,
    );
  const wanted = options.algorithm ?? 'auto';
  if (wanted !== 'auto' && !algorithms.includes(wanted))
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `algorithm ${wanted} does not suit ${described}; use ${algorithms.join(', ')} or auto`,
    );
  const spki = Buffer.from(key.publicKey);
  let certificates: X509Certificate[] = [];
  if (options.certificate !== undefined) {
    certificates = certificatesOf(options.certificate, keyId);
    const leaf = certificates.findIndex((c) =>
      c.publicKey.export({ type: 'spki', format: 'der' }).equals(spki),
    );
    if (leaf < 0)
      throw new KeystoreError(
        'ERR_KEY_CERT_MISMATCH',
        `the certificate of ${described} certifies another key; make one from the key with "token-broker kms certificate"`,
      );
    certificates = [certificates[leaf]!, ...certificates.filter((_, i) => i !== leaf)];
  }
  // Fails early on a public key Node cannot read, rather than at the first signature check.
  createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const leaf = certificates[0];
  async function signNative(algorithm: JwsAlgorithm, input: Uint8Array): Promise<Uint8Array> {
    if (algorithm === 'EdDSA' || !algorithms.includes(algorithm))
      throw new KeystoreError(
        'ERR_UNSUPPORTED_KEY',
        `${described} cannot sign ${algorithm}; use ${algorithms.join(', ')} or auto`,
      );
    const raw = input.length <= KMS_RAW_MESSAGE_LIMIT;
    const message = raw ? input : createHash(JWS_HASHES[algorithm]!).update(input).digest();
    const type: KmsMessageType = raw ? 'RAW' : 'DIGEST';
    return withKmsRetries(
      () => api.sign(keyId, message, type, KMS_SIGNING_ALGORITHMS[algorithm]),
      keyId,
      'Sign',
      options,
    );
  }
  const jwsAlgorithm =
    wanted === 'auto' ? (algorithms.includes(fallback) ? fallback : algorithms[0]!) : wanted;
  return {
    description: described,
    algorithms,
    jwsAlgorithm,
    keyArn: key.keyId,
    keySpec: key.keySpec,
    publicKey: spki,
    kid: undefined,
    x5t: leaf && createHash('sha1').update(leaf.raw).digest('base64url'),
    x5tS256: leaf && createHash('sha256').update(leaf.raw).digest('base64url'),
    certificates,
    notAfter: leaf && new Date(leaf.validTo),
    signNative,
    async sign(algorithm, input) {
      const signature = await signNative(algorithm, input);
      const size = (ECDSA_INTEGER_BYTES as Partial<Record<JwsAlgorithm, number>>)[algorithm];
      if (size === undefined) return signature;
      try {
        return derToJose(signature, size);
      } catch (err) {
        throw kmsError(
          Object.assign(new Error('malformed signature'), { name: 'InternalFailure', cause: err }),
          keyId,
          'Sign',
        );
      }
    },
  };
}
