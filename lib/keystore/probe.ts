/**
 * Proves that an opened key signs: the chosen JWS algorithm signs a probe with jose (the
 * library the assertion is signed with) and the key's public part verifies it. A key that
 * Node loads but jose's WebCrypto import refuses is re-encoded once (through its JWK form,
 * which names the curve) before it is refused, so the refusal comes at open time with the
 * reason, never when a token is wanted.
 */
import { createECDH, createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify } from 'jose';
import { KeystoreError } from '../errors.ts';
import { printable } from './text.ts';
import type { JwsAlgorithm } from './types.ts';

const PROBE = new TextEncoder().encode('token-broker signing probe');
const OPENSSL_CURVES: Readonly<Record<string, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
};

/**
 * Keys proven before, by a digest of the private key and the algorithm (no key is kept):
 * `true` when the re-encoding is what signs. A re-open of the same key signs nothing.
 */
const proven = new Map<string, boolean>();
const MAX_PROVEN = 256;

async function signsAndVerifies(key: KeyObject, algorithm: JwsAlgorithm): Promise<unknown> {
  try {
    const jws = await new CompactSign(PROBE).setProtectedHeader({ alg: algorithm }).sign(key);
    await compactVerify(jws, createPublicKey(key), { algorithms: [algorithm] });
    return undefined;
  } catch (error) {
    return error;
  }
}

/** The JWK form re-imported: a named curve, the public part as OpenSSL computes it. */
function reencoded(key: KeyObject): KeyObject | undefined {
  try {
    return createPrivateKey({ key: key.export({ format: 'jwk' }), format: 'jwk' });
  } catch {
    return undefined;
  }
}

/** For an EC key whose stored public point is not `d·G`: the reason, else `undefined`. */
function pointMismatch(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== 'ec') return undefined;
  try {
    return ecPointMismatch(key);
  } catch {
    return undefined; // the key's own encoding failed; the signing error says enough
  }
}

function ecPointMismatch(key: KeyObject): string | undefined {
  const jwk = key.export({ format: 'jwk' });
  const curve = OPENSSL_CURVES[jwk.crv ?? ''];
  if (!curve || !jwk.d || !jwk.x || !jwk.y) return undefined;
  const ecdh = createECDH(curve);
  ecdh.setPrivateKey(Buffer.from(jwk.d, 'base64url'));
  const point = ecdh.getPublicKey();
  const size = (point.length - 1) / 2;
  const matches =
    point.subarray(1, 1 + size).toString('base64url') === jwk.x &&
    point.subarray(1 + size).toString('base64url') === jwk.y;
  return matches
    ? undefined
    : 'its public point (x, y) does not belong to its private scalar (d): the key is damaged or was edited';
}

/**
 * The key to sign with, proven to sign `algorithm` and to verify with its public part:
 * the key itself, or its re-encoding when only that signs.
 *
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` with the reason when neither signs.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-5.1
 */
export async function provenSigningKey(
  key: KeyObject,
  algorithm: JwsAlgorithm,
  alias: string,
): Promise<KeyObject> {
  let digest: string;
  try {
    digest = createHash('sha256')
      .update(algorithm)
      .update(key.export({ format: 'der', type: 'pkcs8' }))
      .digest('hex');
  } catch (cause) {
    // A damaged key Node loaded but cannot encode again (an EC scalar of the wrong size…).
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `the key of '${printable(alias)}' cannot sign ${algorithm}: it cannot be encoded again (damaged); ` +
        'export the key again from its source',
      { cause },
    );
  }
  const known = proven.get(digest);
  if (known !== undefined) return known ? (reencoded(key) ?? key) : key;
  const failure = await signsAndVerifies(key, algorithm);
  let signer: KeyObject | undefined = failure === undefined ? key : undefined;
  if (!signer) {
    const other = reencoded(key);
    if (other && (await signsAndVerifies(other, algorithm)) === undefined) signer = other;
  }
  if (!signer) {
    const reason = pointMismatch(key) ?? (failure instanceof Error ? failure.message : String(failure));
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `the key of '${printable(alias)}' cannot sign ${algorithm}: ${reason}; export the key again from its source`,
    );
  }
  proven.set(digest, signer !== key);
  if (proven.size > MAX_PROVEN) proven.delete(proven.keys().next().value!);
  return signer;
}
