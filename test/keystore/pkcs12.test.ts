import { X509Certificate, createHmac, pbkdf2Sync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePkcs12 } from '../../lib/keystore/pkcs12.ts';
import type { RawEntry, RawStore } from '../../lib/keystore/types.ts';
import { readManifest, type ManifestRow } from '../support/keystore-manifests.ts';
import { keyTypeOf, keystoreErrorOf, fixture as read, throwsOnlyKeystoreErrors } from './helpers.ts';

type Fixture = ManifestRow & { readonly password: string; readonly cert: string };
const manifest = readManifest('manifest.pkcs12.json') as Fixture[];
const openable = manifest.filter((fixture) => !fixture.expectError);

const PASSWORD_MESSAGE = 'wrong keystore password (or the file was altered); check certPassword';
const INTEGRITY_MESSAGE =
  'the PKCS#12 integrity check (MAC) failed although the password is right: the file was altered or damaged; ' +
  'restore it from its source';

function entry(store: RawStore, alias: string | undefined): RawEntry {
  const keys = store.entries.filter((candidate) => candidate.kind === 'private-key');
  const found = alias
    ? keys.find((candidate) => candidate.alias.toLowerCase() === alias.toLowerCase())
    : keys[0];
  if (!found)
    throw new Error(`no private key ${alias ?? ''} in ${store.entries.map((e) => e.alias).join(', ')}`);
  return found;
}

describe('parsePkcs12 on keytool and openssl files', () => {
  it('has openable and damaged fixtures in manifest.pkcs12.json', () => {
    expect(openable.length).toBeGreaterThan(0);
    expect(manifest.some((fixture) => fixture.expectError)).toBe(true);
  });

  it.each(openable.map((fixture) => [`${fixture.file} ${fixture.alias ?? ''}`.trim(), fixture] as const))(
    'opens %s; the key signs data that verifies with the tool-exported certificate',
    (_name, fixture) => {
      const store = parsePkcs12(read(fixture.file), fixture.password);
      expect(store.format).toBe('pkcs12');
      const found = entry(store, fixture.alias);
      const key = found.decryptKey!(fixture.keyPassword ?? fixture.password);
      expect(keyTypeOf(key)).toBe(fixture.keyType);
      const certificate = new X509Certificate(read(fixture.cert));
      expect(Buffer.from(found.certificates[0]!).equals(certificate.raw)).toBe(true);
      const data = Buffer.from('token-broker pkcs12 test');
      const digest = fixture.keyType === 'Ed25519' ? null : 'sha256';
      expect(verify(digest, data, certificate.publicKey, sign(digest, data, key))).toBe(true);
    },
  );

  it('lists the private keys, the trusted certificate and the secret key of a keytool store', () => {
    const store = parsePkcs12(read('p12-keytool-multi.p12'), 'changeit');
    expect(store.entries.map((e) => [e.alias, e.kind, e.certificates.length])).toEqual([
      ['first', 'private-key', 1],
      ['second', 'private-key', 1],
      ['fixture ca', 'trusted-cert', 1],
      ['secret', 'secret-key', 0],
    ]);
    expect(store.entries.find((e) => e.kind !== 'private-key')?.decryptKey).toBeUndefined();
    expect(store.warnings).toEqual([]);
  });

  it('numbers an entry without a friendlyName, as Java does', () => {
    const store = parsePkcs12(read('p12-openssl-noname.p12'), 'changeit');
    expect(store.entries.map((e) => [e.alias, e.kind])).toEqual([['1', 'private-key']]);
  });

  it('orders the chain leaf first and pairs the key by localKeyId', () => {
    const store = parsePkcs12(read('p12-openssl-chain.p12'), 'changeit');
    expect(store.entries).toHaveLength(1);
    const chain = store.entries[0]!.certificates.map((der) => Buffer.from(der));
    expect(chain).toHaveLength(2);
    expect(chain[0]!.equals(new X509Certificate(read('p12-openssl-chain.p12.signer.cert.pem')).raw)).toBe(
      true,
    );
    expect(chain[1]!.equals(new X509Certificate(read('p12-openssl-chain.p12.ca.cert.pem')).raw)).toBe(true);
  });

  it('warns about legacy protection and names the algorithms', () => {
    const store = parsePkcs12(read('p12-openssl-legacy-rsa2048.p12'), 'changeit');
    expect(store.warnings).toEqual([
      'the PKCS#12 file uses legacy protection (HMAC-SHA1 MAC, pbeWithSHAAnd40BitRC2-CBC, ' +
        'pbeWithSHAAnd3-KeyTripleDES-CBC); re-export it with AES-256 (the keytool 17 default, ' +
        'or openssl pkcs12 -export without -legacy)',
    ]);
    expect(parsePkcs12(read('p12-keytool-rsa2048.p12'), 'changeit').warnings).toEqual([]);
  });

  it('warns that a file without a MAC cannot be checked for tampering', () => {
    const store = parsePkcs12(read('p12-openssl-nomac.p12'), 'changeit');
    expect(store.warnings).toEqual([
      'the PKCS#12 file has no integrity check (MAC); re-export it with a password-based MAC',
    ]);
  });

  it('treats an absent and an empty password alike, as OpenSSL does', () => {
    for (const file of ['p12-openssl-emptypass.p12', 'p12-openssl-plain.p12']) {
      const store = parsePkcs12(read(file), undefined);
      expect(store.entries[0]!.decryptKey!(undefined).type).toBe('private');
    }
  });
});

describe('parsePkcs12 on damaged and mistaken inputs', () => {
  it.each(manifest.filter((f) => f.expectError?.startsWith('ERR_KEYSTORE')).map((f) => [f.file, f] as const))(
    'rejects %s with its code',
    (_name, fixture) => {
      const error = keystoreErrorOf(() => parsePkcs12(read(fixture.file), fixture.password));
      expect(error.code).toBe(fixture.expectError);
    },
  );

  it('rejects a wrong store password with ERR_KEYSTORE_PASSWORD', () => {
    for (const file of [
      'p12-keytool-rsa2048.p12',
      'p12-openssl-legacy-rsa2048.p12',
      'p12-openssl-unicode.p12',
    ]) {
      const error = keystoreErrorOf(() => parsePkcs12(read(file), 'not the password'));
      expect([error.code, error.message]).toEqual(['ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE]);
    }
  });

  it('rejects a wrong key password with ERR_KEY_PASSWORD', () => {
    const store = parsePkcs12(read('p12-keytool-rsa2048.p12'), 'changeit');
    const error = keystoreErrorOf(() => store.entries[0]!.decryptKey!('not the key password'));
    expect([error.code, error.message]).toEqual([
      'ERR_KEY_PASSWORD',
      "the private key of 'signer' could not be decrypted: wrong key password " +
        '(in PKCS#12 it is normally the store password, certPassword)',
    ]);
  });

  it('rejects a file whose certificate bytes were altered with ERR_KEYSTORE_INTEGRITY', () => {
    const error = keystoreErrorOf(() => parsePkcs12(read('p12-cert-flipped.p12'), 'changeit'));
    expect([error.code, error.message]).toEqual(['ERR_KEYSTORE_INTEGRITY', INTEGRITY_MESSAGE]);
  });

  it('rejects truncated, random and empty files with ERR_KEYSTORE_FORMAT', () => {
    const cases: Array<[string, string]> = [
      ['p12-truncated.p12', 'PKCS#12 PFX is truncated'],
      ['p12-empty.p12', 'the file is empty'],
    ];
    for (const [file, detail] of cases) {
      const error = keystoreErrorOf(() => parsePkcs12(read(file), 'changeit'));
      expect([error.code, error.message]).toEqual([
        'ERR_KEYSTORE_FORMAT',
        `not a valid PKCS#12 file: ${detail}; check certStoreType and that the file is complete`,
      ]);
    }
    const random = keystoreErrorOf(() => parsePkcs12(Buffer.from('not a keystore at all'), 'changeit'));
    expect([random.code, random.message]).toEqual([
      'ERR_KEYSTORE_FORMAT',
      'not a valid PKCS#12 file: it does not start with an ASN.1 SEQUENCE; ' +
        'check certStoreType and that the file is complete',
    ]);
  });

  it('names an unsupported key encryption OID and lists the supported ones', () => {
    const bytes = read('p12-openssl-nomac.p12');
    // AES-256-CBC (2.16.840.1.101.3.4.1.42) becomes 2.16.840.1.101.3.4.1.46 (AES-256-GCM).
    const at = bytes.indexOf(Buffer.from('060960864801650304012a', 'hex'));
    expect(at).toBeGreaterThan(0);
    const patched = Buffer.from(bytes);
    patched[at + 10] = 0x2e;
    const store = parsePkcs12(patched, 'changeit');
    const error = keystoreErrorOf(() => store.entries[0]!.decryptKey!('changeit'));
    expect(error.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(error.message).toBe(
      'the PKCS#12 private key is encrypted with an unsupported algorithm (OID 2.16.840.1.101.3.4.1.46); ' +
        'supported: PBES2 (PBKDF2 with HMAC-SHA-1/224/256/384/512; AES-128/192/256-CBC or DES-EDE3-CBC) and ' +
        'PKCS#12 PBE with SHA-1 (3DES, 2DES, RC2-40, RC2-128, RC4-40, RC4-128); re-export the file with AES-256',
    );
  });

  it('never lets anything but a KeystoreError escape from a mutated file', () => {
    const originals = [read('p12-openssl-variants.p12'), read('p12-openssl-plain.p12')];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.option(fc.nat(), { nil: undefined }),
        (which, flips, cut) => {
          const original = originals[which]!;
          const bytes = Buffer.from(original);
          for (const [at, mask] of flips) bytes[at % bytes.length]! ^= mask;
          const input = cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length);
          const password = which === 0 ? 'changeit' : '';
          throwsOnlyKeystoreErrors(() => {
            const store = parsePkcs12(input, password);
            for (const e of store.entries) e.decryptKey?.(password);
          });
        },
      ),
      { numRuns: 300, seed: 7292 },
    );
  });
});

describe('parsePkcs12 with a PBMAC1 MAC (RFC 9579)', () => {
  /** Replaces a file's MacData with a PBMAC1 one (PBKDF2-HMAC-SHA256, HMAC-SHA256). */
  function withPbmac1(file: string, password: string): Buffer {
    const bytes = read(file);
    // PFX = SEQUENCE { INTEGER 3, authSafe, macData }: find the authSafe's OCTET STRING content.
    const authSafeStart = 4 + 3; // outer header (4 bytes for these sizes) + INTEGER 3
    const authSafeLength = bytes.readUInt16BE(authSafeStart + 2);
    const authSafe = bytes.subarray(authSafeStart, authSafeStart + 4 + authSafeLength);
    const content = authSafe.subarray(4 + 11 + 4 + 4);
    const salt = Buffer.from('0011223344556677', 'hex');
    const key = pbkdf2Sync(password, salt, 2048, 32, 'sha256');
    const mac = createHmac('sha256', key).update(content).digest();
    const der = (tag: number, ...parts: Buffer[]): Buffer => {
      const body = Buffer.concat(parts);
      const length =
        body.length < 0x80
          ? Buffer.from([body.length])
          : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
      return Buffer.concat([Buffer.from([tag]), length, body]);
    };
    const oid = (hex: string): Buffer => der(0x06, Buffer.from(hex, 'hex'));
    const hmacSha256 = der(0x30, oid('2a864886f70d0209'), Buffer.from([0x05, 0x00]));
    const pbkdf2 = der(
      0x30,
      oid('2a864886f70d01050c'),
      der(
        0x30,
        der(0x04, salt),
        der(0x02, Buffer.from([0x08, 0x00])),
        der(0x02, Buffer.from([32])),
        hmacSha256,
      ),
    );
    const algorithm = der(0x30, oid('2a864886f70d01050e'), der(0x30, pbkdf2, hmacSha256));
    const macData = der(
      0x30,
      der(0x30, algorithm, der(0x04, mac)),
      der(0x04, Buffer.from('NOT USED')),
      der(0x02, Buffer.from([1])),
    );
    return der(0x30, der(0x02, Buffer.from([3])), authSafe, macData);
  }

  it('verifies the PBKDF2-based MAC and opens the key', () => {
    const file = 'p12-openssl-ec256.p12';
    expect(parsePkcs12(read(file), 'changeit').entries).toHaveLength(1);
    const store = parsePkcs12(withPbmac1(file, 'changeit'), 'changeit');
    expect(store.entries.map((e) => e.alias)).toEqual(['signer']);
    expect(store.entries[0]!.decryptKey!('changeit').asymmetricKeyType).toBe('ec');
    const error = keystoreErrorOf(() => parsePkcs12(withPbmac1(file, 'changeit'), 'other'));
    expect(error.code).toBe('ERR_KEYSTORE_PASSWORD');
  });
});
