import { describe, expect, it } from 'vitest';
import { parseJceks } from '../../lib/keystore/jceks.ts';
import { fixture, keystoreErrorOf, throwsOnlyKeystoreErrors } from './helpers.ts';
import {
  describeManifestRows,
  flipped,
  itRejectsAFlippedCertificate,
  verifiesWithExportedCertificate,
} from './java-fixtures.ts';

const UNICODE = 'pâss wörd ✓ 🔑';

describe('parseJceks', () => {
  describeManifestRows('jceks', parseJceks, 'PBEWithMD5AndTripleDES');

  it('lists the secret key entry beside private keys and the trusted certificate, without decrypting it', () => {
    const store = parseJceks(fixture('java-multi.jceks'), 'changeit');

    const listing = store.entries.map((e) => [e.alias, e.kind, e.certificates.length, typeof e.decryptKey]);
    expect(listing.sort()).toEqual([
      ['first', 'private-key', 1, 'function'],
      ['fixture ca', 'trusted-cert', 1, 'undefined'],
      ['second', 'private-key', 1, 'function'],
      ['secret', 'secret-key', 0, 'undefined'],
    ]);
    expect(store.entries.find((e) => e.alias === 'fixture ca')!.certificates[0]).not.toHaveLength(0);
  });

  it('checks integrity with a non-ASCII store password and refuses it as a key password, as the JDK does', () => {
    const [entry] = parseJceks(fixture('java-unicode.jceks'), UNICODE).entries;

    const err = keystoreErrorOf(() => entry!.decryptKey!(UNICODE));

    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe(
      'wrong key password for alias "signer" (JCEKS key passwords are printable ASCII only); ' +
        'set keyPassword when it differs from the store password',
    );
    expect(
      verifiesWithExportedCertificate(entry!.decryptKey!('key pass'), 'java-unicode.jceks.signer.cert.pem'),
    ).toBe(true);
  });

  itRejectsAFlippedCertificate('jceks', parseJceks, 'java-multi.jceks.first.cert.pem');

  it('reads a JKS file as the JDK JCEKS provider does', () => {
    const store = parseJceks(fixture('java-ec256.jks'), 'changeit');

    expect(store.format).toBe('jks');
    const key = store.entries[0]!.decryptKey!('changeit');
    expect(verifiesWithExportedCertificate(key, 'java-ec256.jks.signer.cert.pem')).toBe(true);
  });

  it('reports every truncation of a store, secret key entry included, as ERR_KEYSTORE_FORMAT', () => {
    const bytes = fixture('java-multi.jceks');
    for (let len = 0; len < bytes.length; len++) {
      const err = keystoreErrorOf(() => parseJceks(bytes.subarray(0, len), undefined));
      expect(err.code, `truncated to ${len} bytes`).toBe('ERR_KEYSTORE_FORMAT');
    }
  });

  it('throws nothing but KeystoreErrors for a flipped byte anywhere in the structure', () => {
    const bytes = fixture('java-multi.jceks');
    for (let at = 0; at < bytes.length; at++) {
      throwsOnlyKeystoreErrors(() => parseJceks(flipped(bytes, at), undefined));
    }
  });

  it('names a damaged secret key entry in ERR_KEYSTORE_FORMAT', () => {
    const bytes = fixture('java-multi.jceks');
    // The first entry is the secret key; its serialization stream starts right after the date.
    const at = Buffer.from(bytes).indexOf(Buffer.from([0xac, 0xed, 0x00, 0x05]));

    const err = keystoreErrorOf(() => parseJceks(flipped(bytes, at), 'changeit'));

    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe(
      'JCEKS keystore is damaged or truncated (the secret key is not a serialized Java object, at entry 1 of 4); ' +
        'restore it from a good copy',
    );
  });
});
