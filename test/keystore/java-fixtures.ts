/** Shared helpers for the JKS and JCEKS parser tests: the keytool-made fixtures and their manifest. */
import { X509Certificate, createHash, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../lib/errors.ts';
import type { RawStore } from '../../lib/keystore/types.ts';
import { readManifest } from '../support/keystore-manifests.ts';
import { fixture, keyTypeOf, keystoreErrorOf, standalone } from './helpers.ts';

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

const manifest = readManifest('manifest.java.json') as readonly JavaManifestRow[];

/** The DER of a certificate keytool exported. */
export function certificateDer(pemFile: string): Buffer {
  return new X509Certificate(fixture(pemFile)).raw;
}

/** Signs with `key` and verifies with the public key of the certificate keytool exported. */
export function verifiesWithExportedCertificate(key: KeyObject, pemFile: string): boolean {
  const data = Buffer.from('token-broker signing check');
  const hash = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const signature = sign(hash, data, key);
  return verify(hash, data, new X509Certificate(fixture(pemFile)).publicKey, signature);
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

/**
 * The tests every JKS/JCEKS parser shares: each openable manifest row of `type` decrypts a key
 * that signs for the certificate keytool exported, each damaged row fails with its code and
 * message, and a key password that differs from the store password is asked for.
 */
export function describeManifestRows(
  type: 'jks' | 'jceks',
  parse: (bytes: Uint8Array, password: string | undefined) => RawStore,
  keyProtection: string,
): void {
  const rows = manifest.filter((row) => row.type === type);

  it(`has ${type} rows in manifest.java.json, openable and damaged`, () => {
    expect(rows.some((row) => !row.expectError)).toBe(true);
    expect(rows.some((row) => row.expectError)).toBe(true);
  });

  describe.each(rows.filter((row) => !row.expectError))('$file (alias $alias)', (row) => {
    it(`decrypts a ${keyProtection} key that signs for the certificate keytool exported`, () => {
      const store = parse(fixture(row.file), row.password);
      const alias = (row.alias ?? 'signer').toLowerCase();
      const entry = store.entries.find((e) => e.alias === alias)!;

      const key = entry.decryptKey!(row.keyPassword ?? row.password);

      expect(store.format).toBe(type);
      expect(store.warnings).toEqual([]);
      expect(entry.kind).toBe('private-key');
      expect(keyTypeOf(key)).toBe(row.keyType);
      expect(Buffer.from(entry.certificates[0]!)).toEqual(certificateDer(row.cert));
      expect(verifiesWithExportedCertificate(key, row.cert)).toBe(true);
    });
  });

  it.each(rows.filter((row) => row.expectError))('rejects $file with $expectError', (row) => {
    const err = keystoreErrorOf(() => {
      const store = parse(fixture(row.file), row.password);
      store.entries[0]!.decryptKey!(row.keyPassword ?? row.password);
    });

    expect(err.code).toBe(row.expectError);
    expect(err.message).toMatch(expectedMessage(row));
    expect(err.message).not.toMatch(standalone(row.password));
  });

  it('fails with ERR_KEY_PASSWORD on the store password when the key password differs, and opens with the key password', () => {
    const [entry] = parse(fixture(`java-keypass.${type}`), 'store pass').entries;

    const err = keystoreErrorOf(() => entry!.decryptKey!('store pass'));
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe(
      'wrong key password for alias "signer"; set keyPassword when it differs from the store password',
    );
    expect(
      verifiesWithExportedCertificate(entry!.decryptKey!('key pass'), `java-keypass.${type}.signer.cert.pem`),
    ).toBe(true);
  });
}

/** A store whose key still decrypts but one byte of the certificate in `certFile` is flipped. */
export function itRejectsAFlippedCertificate(
  type: 'jks' | 'jceks',
  parse: (bytes: Uint8Array, password: string | undefined) => RawStore,
  certFile: string,
): void {
  it('rejects a store whose key still decrypts but one certificate byte is flipped with ERR_KEYSTORE_INTEGRITY', () => {
    const bytes = fixture(`java-multi.${type}`);
    const cert = certificateDer(certFile);
    const at = Buffer.from(bytes).indexOf(cert) + (cert.length >> 1);

    const err = keystoreErrorOf(() => parse(flipped(bytes, at), 'changeit'));

    expect(err.code).toBe('ERR_KEYSTORE_INTEGRITY');
    expect(err.message).toMatch(/^keystore integrity check failed although the password is right/);
  });
}
