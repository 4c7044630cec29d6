/** Shared helpers for the JKS and JCEKS parser tests: the keytool-made fixtures and their manifest. */
import { X509Certificate, createHash, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { KeystoreError } from '../../lib/errors.ts';
import type { ErrorCode } from '../../lib/errors.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { readManifest } from '../support/keystore-manifests.ts';

export const DIR = KEYSTORE_FIXTURES;

/** One row of manifest.java.json. */
export interface JavaManifestRow {
  readonly file: string;
  readonly type: 'jks' | 'jceks';
  readonly password: string;
  readonly keyPassword?: string;
  readonly alias?: string;
  readonly cert: string;
  readonly keyType: string;
  readonly expectError?: ErrorCode;
}

export const manifest = readManifest('manifest.java.json') as readonly JavaManifestRow[];

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(DIR, name)));
}

/** The DER of a certificate keytool exported. */
export function certificateDer(pemFile: string): Buffer {
  return new X509Certificate(readFileSync(join(DIR, pemFile))).raw;
}

/** `RSA-2048`, `EC-P-256`, `Ed25519`, as the manifest writes it. */
export function keyTypeOf(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA-${d.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    return `EC-${curves[d.namedCurve ?? ''] ?? d.namedCurve}`;
  }
  return key.asymmetricKeyType === 'ed25519' ? 'Ed25519' : String(key.asymmetricKeyType);
}

/** Signs with `key` and verifies with the public key of the certificate keytool exported. */
export function verifiesWithExportedCertificate(key: KeyObject, pemFile: string): boolean {
  const data = Buffer.from('token-broker signing check');
  const hash = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const signature = sign(hash, data, key);
  return verify(hash, data, new X509Certificate(readFileSync(join(DIR, pemFile))).publicKey, signature);
}

/** Runs `fn`, expects it to throw a KeystoreError, and returns it. */
export function keystoreErrorOf(fn: () => unknown): KeystoreError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(KeystoreError);
  return thrown as KeystoreError;
}

/** Runs `fn`; if it throws, the error must be a KeystoreError (never a TypeError, RangeError…). */
export function throwsOnlyKeystoreErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof KeystoreError)) throw err;
  }
}

/** The message each code carries for the damaged fixtures (password errors are fixed text). */
export function expectedMessage(row: JavaManifestRow): string | RegExp {
  const label = row.type.toUpperCase();
  switch (row.expectError) {
    case 'ERR_KEYSTORE_PASSWORD':
      return 'wrong keystore password (or the file was altered); check certPassword';
    case 'ERR_KEYSTORE_INTEGRITY':
      return (
        'keystore integrity check failed although the password is right: the file was altered or damaged; ' +
        'restore it from a good copy'
      );
    case 'ERR_KEY_PASSWORD':
      return 'wrong key password for alias "signer"; set keyPassword when it differs from the store password';
    case 'ERR_KEYSTORE_FORMAT':
      return row.file.includes('random')
        ? `not a ${label} keystore (it does not start with the ${label} magic number); ` +
            'check certStoreType and that the secret holds the keystore file itself'
        : new RegExp(
            `^${label} keystore is damaged or truncated \\(the file ends inside .+, at entry 1 of 1\\); ` +
              'restore it from a good copy$',
          );
    default:
      throw new Error(`no expected message for ${row.expectError}`);
  }
}

/** Matches `secret` as a whole token, so a password such as `store pass` may sit inside "store password". */
export function standalone(secret: string): RegExp {
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u');
}

/** A copy of `bytes` with the byte at `at` inverted. */
export function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at]! ^= 0xff;
  return copy;
}

/** Recomputes a JKS/JCEKS integrity digest over `body` with `password` and appends it. */
export function withDigest(body: Uint8Array, password: string): Uint8Array {
  const pw = Buffer.from(password, 'utf16le').swap16();
  const digest = createHash('sha1').update(pw).update('Mighty Aphrodite').update(body).digest();
  return Buffer.concat([body, digest]);
}
