import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openKeystore } from '../../lib/keystore/index.ts';
import type { JwsAlgorithm, KeyMaterial } from '../../lib/keystore/types.ts';

/** Folder of the keystore fixtures made by openssl and keytool. */
export const KEYSTORE_FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'keystores');

/** A fresh key pair as KeyMaterial without certificate, and its public key. */
export function generatedKey(kind: 'rsa' | 'ec' | 'ed25519' = 'rsa'): {
  key: KeyMaterial;
  publicKey: KeyObject;
} {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const jwsAlgorithm: JwsAlgorithm = kind === 'rsa' ? 'RS256' : kind === 'ec' ? 'ES256' : 'EdDSA';
  return {
    publicKey: pair.publicKey,
    key: {
      alias: 'key',
      format: 'pem',
      privateKey: pair.privateKey,
      certificates: [],
      jwsAlgorithm,
      x5t: undefined,
      x5tS256: undefined,
      notAfter: undefined,
      kid: undefined,
      clientEmail: undefined,
      warnings: [],
    },
  };
}

/** The openssl-made PEM key with its certificate in the same file, opened by lib/keystore. */
export async function fixtureKeyWithCertificate(): Promise<{ key: KeyMaterial; certificatePem: string }> {
  const bytes = await readFile(join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem'));
  const certificatePem = await readFile(
    join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem.cert.pem'),
    'utf8',
  );
  return { key: await openKeystore(bytes, { type: 'pem' }), certificatePem };
}
