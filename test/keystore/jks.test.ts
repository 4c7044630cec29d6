import { describe, expect, it } from 'vitest';
import { parseJks } from '../../lib/keystore/jks.ts';
import { fixture, keystoreErrorOf, throwsOnlyKeystoreErrors } from './helpers.ts';
import {
  certificateDer,
  describeManifestRows,
  flipped,
  itRejectsAFlippedCertificate,
  verifiesWithExportedCertificate,
  withDigest,
} from './java-fixtures.ts';

const UNICODE = 'pâss wörd ✓ 🔑';

/** Java's modified UTF-8 (DataOutput.writeUTF), code unit by code unit. */
function modifiedUtf8(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 1 && c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  const len = Buffer.alloc(2);
  len.writeUInt16BE(out.length);
  return Buffer.concat([len, Buffer.from(out)]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** The encrypted key (EncryptedPrivateKeyInfo DER) of a single-entry keytool store. */
function onlyEncryptedKey(bytes: Uint8Array): Uint8Array {
  const b = Buffer.from(bytes);
  const start = 16 + 2 + b.readUInt16BE(16) + 8 + 4;
  return b.subarray(start, start + b.readUInt32BE(start - 4));
}

describe('parseJks', () => {
  describeManifestRows('jks', parseJks, 'Sun KeyProtector');

  it('lists private keys and the trusted certificate under the lower-case aliases keytool stores', () => {
    const store = parseJks(fixture('java-multi.jks'), 'changeit');

    const listing = store.entries.map((e) => [e.alias, e.kind, e.certificates.length, typeof e.decryptKey]);
    expect(listing.sort()).toEqual([
      ['first', 'private-key', 1, 'function'],
      ['fixture ca', 'trusted-cert', 1, 'undefined'],
      ['second', 'private-key', 1, 'function'],
    ]);
  });

  it('hashes a non-ASCII password as Java chars, including a surrogate pair beyond the BMP', () => {
    const bytes = fixture('java-unicode.jks');

    const [entry] = parseJks(bytes, UNICODE).entries;

    expect(
      verifiesWithExportedCertificate(entry!.decryptKey!(UNICODE), 'java-unicode.jks.signer.cert.pem'),
    ).toBe(true);
    // The same text decomposed (a + combining circumflex) is a different Java char sequence.
    const decomposed = UNICODE.normalize('NFD');
    expect(keystoreErrorOf(() => parseJks(bytes, decomposed)).code).toBe('ERR_KEYSTORE_PASSWORD');
  });

  itRejectsAFlippedCertificate('jks', parseJks, 'java-multi.jks.second.cert.pem');

  it('says a JCEKS file is not JKS and names the type to set', () => {
    const err = keystoreErrorOf(() => parseJks(fixture('java-rsa2048.jceks'), 'changeit'));

    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe('this is a JCEKS keystore, not JKS; set certStoreType to jceks (or auto)');
  });

  it('lists entries without a password, warns that integrity was not checked, and asks for a key password', () => {
    const store = parseJks(fixture('java-cert-flipped.jks'), undefined);

    expect(store.warnings).toEqual(['JKS keystore integrity not checked: no store password was given']);
    const err = keystoreErrorOf(() => store.entries[0]!.decryptKey!(undefined));
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe(
      'the private key of alias "signer" needs a password; set certPassword (and keyPassword when it differs)',
    );
  });

  it('reads version 1 stores (no certificate types) and modified UTF-8 aliases beyond the BMP', () => {
    const source = fixture('java-ec256.jks');
    const alias = 'clé 🔑\u0000x';
    const key = onlyEncryptedKey(source);
    const cert = certificateDer('java-ec256.jks.signer.cert.pem');
    const body = Buffer.concat([
      Buffer.from([0xfe, 0xed, 0xfe, 0xed]),
      u32(1),
      u32(2),
      ...[u32(1), modifiedUtf8(alias), Buffer.alloc(8), u32(key.length), key, u32(1), u32(cert.length), cert],
      ...[u32(2), modifiedUtf8('ca'), Buffer.alloc(8), u32(cert.length), cert],
    ]);

    const store = parseJks(withDigest(body, 'changeit'), 'changeit');

    expect(store.entries.map((e) => [e.alias, e.kind])).toEqual([
      [alias, 'private-key'],
      ['ca', 'trusted-cert'],
    ]);
    expect(
      verifiesWithExportedCertificate(
        store.entries[0]!.decryptKey!('changeit'),
        'java-ec256.jks.signer.cert.pem',
      ),
    ).toBe(true);
  });

  it('names an alias with control characters on one line in its errors', () => {
    const source = fixture('java-ec256.jks');
    const key = onlyEncryptedKey(source);
    const cert = certificateDer('java-ec256.jks.signer.cert.pem');
    const body = Buffer.concat([
      Buffer.from([0xfe, 0xed, 0xfe, 0xed]),
      u32(2),
      u32(1),
      ...[u32(1), modifiedUtf8('line\nbreak'), Buffer.alloc(8), u32(key.length), key],
      ...[u32(1), modifiedUtf8('X.509'), u32(cert.length), cert],
    ]);

    const [entry] = parseJks(withDigest(body, 'changeit'), 'changeit').entries;
    const err = keystoreErrorOf(() => entry!.decryptKey!('not the key password'));

    expect(entry!.alias).toBe('line\nbreak');
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe(
      'wrong key password for alias "line?break"; set keyPassword when it differs from the store password',
    );
  });

  it('reports every truncation of a store as ERR_KEYSTORE_FORMAT', () => {
    const bytes = fixture('java-multi.jks');
    for (let len = 0; len < bytes.length; len++) {
      const err = keystoreErrorOf(() => parseJks(bytes.subarray(0, len), 'changeit'));
      expect(err.code, `truncated to ${len} bytes`).toBe('ERR_KEYSTORE_FORMAT');
    }
  });

  it('throws nothing but KeystoreErrors for a flipped byte anywhere in a store', () => {
    const bytes = fixture('java-ec256.jks');
    for (let at = 0; at < bytes.length; at++) {
      throwsOnlyKeystoreErrors(() => {
        const store = parseJks(flipped(bytes, at), 'changeit');
        for (const entry of store.entries) entry.decryptKey?.('changeit');
      });
    }
  });
});
