/**
 * How a stand-in authorization server (the demo's, the rehearsal's) verifies a profile's
 * assertions: with the certificate of the profile's own key, else its public key, opened
 * from the profile's secrets as the broker opens them; a keyless profile's web identity
 * JWTs, with a federated trust in the token issuer.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { KeyMaterialCache } from '../signer/key-material.ts';
import type { Profile } from '../config/types.ts';
import type { FederatedTrust } from './federation.ts';

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

/**
 * The trusts a stand-in provider holds for a profile with `webIdentity`, one per role whose
 * JWTs it sends (`subjects`, each the JWT's `sub`): issuer, subject and the profile's
 * audiences, as the real provider is set up (docs/keyless.md). The trust is named as each
 * grant names it: the app's `client_id` (client-assertion, Entra's federated credential),
 * the pool provider the exchange names as `audience` (token-exchange, Google), or none
 * (RFC 7523 §2.1 jwt-bearer). Empty without `webIdentity`.
 */
export function federatedTrusts(
  profile: Profile,
  issuer: string,
  subjects: readonly string[],
): FederatedTrust[] {
  const settings = profile.webIdentity;
  if (settings === undefined) return [];
  const clientId =
    profile.grant === 'client-assertion'
      ? profile.issuer
      : profile.grant === 'token-exchange'
        ? profile.tokenExchange?.audience[0]
        : undefined;
  return [...new Set(subjects)].map((subject) => ({
    issuer,
    subject,
    audiences: settings.audience,
    ...(clientId === undefined ? {} : { clientId }),
  }));
}
