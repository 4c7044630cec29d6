/**
 * How a stand-in authorization server (the demo's, the rehearsal's) verifies a profile's
 * assertions: with the certificate of the profile's own key, else its public key, opened
 * from the profile's secrets as the broker opens them.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KeyMaterialCache } from '../signer/key-material.ts';
import type { Profile } from '../config/types.ts';

/** A `DevClient`'s verification fields. */
export type Verifier = { readonly certificatePem: string } | { readonly publicKey: KeyObject };

/**
 * The verifier of `profile`'s keystore key.
 *
 * @throws as KeyMaterialCache.get: SecretError `ERR_SECRET_*`, KeystoreError `ERR_KEYSTORE_*`, `ERR_KEY_*`.
 */
export async function verifierOf(profile: Profile, keys: KeyMaterialCache): Promise<Verifier> {
  const material = await keys.get(profile);
  const certificate = material.certificates[0];
  return certificate
    ? { certificatePem: certificate.toString() }
    : { publicKey: createPublicKey(material.privateKey) };
}
