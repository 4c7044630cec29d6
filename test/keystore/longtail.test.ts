/**
 * Files as other tools write them (made by test/fixtures/keystores/make-longtail.sh):
 * each kind that was once refused or misreported, opened or refused with code and message.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { detectFormat, listKeystore, openKeystore } from '../../lib/keystore/index.ts';
import { fixture, rejection } from './helpers.ts';

const PASSWORD = 'changeit';

/** The x5t#S256 of a fixture's expected certificate, as openKeystore reports it. */
function x5tS256Of(certFile: string): string {
  return Buffer.from(
    new X509Certificate(fixture(certFile)).fingerprint256.replaceAll(':', ''),
    'hex',
  ).toString('base64url');
}

describe('PEM with text before the blocks', () => {
  it.each([
    ['lt-pem-nodes.pem', 'openssl pkcs12 -nodes output (Bag Attributes)'],
    ['lt-pem-text.pem', 'an openssl x509 -text dump and a comment'],
  ])('detects and opens %s (%s), ignoring the text', async (file) => {
    const bytes = fixture(file);
    expect(bytes.subarray(0, 10).toString('latin1')).not.toBe('-----BEGIN');
    expect(detectFormat(bytes)).toBe('pem');
    const key = await openKeystore(bytes, { password: PASSWORD });
    expect(key.format).toBe('pem');
    expect(key.x5tS256).toBe(x5tS256Of(`${file}.cert.pem`));
    expect(key.jwsAlgorithm).toBe('RS256');
  });

  it('does not take binary bytes holding a BEGIN line for PEM', async () => {
    const bytes = Buffer.concat([Buffer.from([0x00, 0x01, 0x02, 0x0a]), fixture('lt-pem-text.pem')]);
    const err = await rejection(openKeystore(bytes));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe(
      'not a keystore: expected JKS, JCEKS, PKCS#12, BKS, PEM, JWK or Google service-account JSON',
    );
  });
});

describe('BER (indefinite-length) PKCS#12', () => {
  it('detects and opens the BER re-encoding of an openssl PFX like the DER original', async () => {
    const ber = fixture('lt-p12-ber.p12');
    expect([ber[0], ber[1]]).toEqual([0x30, 0x80]);
    expect(detectFormat(ber)).toBe('pkcs12');
    const key = await openKeystore(ber, { password: PASSWORD });
    const der = await openKeystore(fixture('lt-p12.p12'), { password: PASSWORD });
    expect(key.x5tS256).toBe(der.x5tS256);
    expect(key.x5tS256).toBe(x5tS256Of('lt-p12.p12.cert.pem'));
    expect(key.privateKey.equals(der.privateKey)).toBe(true);
  });
});

describe('PBMAC1 (RFC 9579)', () => {
  it('opens a PBMAC1 file whose PBKDF2 parameters carry the key length', async () => {
    const key = await openKeystore(fixture('lt-p12-pbmac1.p12'), { password: PASSWORD });
    expect(key.x5tS256).toBe(x5tS256Of('lt-p12.p12.cert.pem'));
  });

  it('refuses a PBMAC1 file without the key length with ERR_KEYSTORE_FORMAT naming RFC 9579', async () => {
    const err = await rejection(openKeystore(fixture('lt-p12-pbmac1-nokeylen.p12'), { password: PASSWORD }));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe(
      'the PKCS#12 PBMAC1 parameters omit the PBKDF2 key length, which RFC 9579 requires; ' +
        're-export the file with a current OpenSSL (3.4+) or keytool',
    );
  });

  it('says wrong password for a PBMAC1 file opened with another password', async () => {
    const err = await rejection(openKeystore(fixture('lt-p12-pbmac1.p12'), { password: 'not it' }));
    expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
    expect(err.message).toBe('wrong keystore password (or the file was altered); check certPassword');
  });
});

describe('two entries under one alias (JKS, JCEKS)', () => {
  it.each(['jks', 'jceks'])(
    'lists one entry and opens the one keytool opens (%s), with a warning',
    async (ext) => {
      const bytes = fixture(`lt-dup-alias.${ext}`);
      const listing = await listKeystore(bytes, { password: PASSWORD });
      expect(listing.entries.map((entry) => entry.alias)).toEqual(['signer']);
      const key = await openKeystore(bytes, { password: PASSWORD, alias: 'signer' });
      expect(key.x5tS256).toBe(x5tS256Of(`lt-dup-alias.${ext}.cert.pem`));
      expect(key.warnings).toContain(
        `the ${ext.toUpperCase()} keystore holds several entries under alias 'signer'; the last one is used, ` +
          'as keytool does; delete the others with keytool -delete',
      );
    },
  );
});

describe('legacy PEM encryption', () => {
  const source = fixture('lt-pem-legacy.src.pem').toString('utf8');
  it.each([
    'lt-pem-pbe-md5-des.pem',
    'lt-pem-pbe-sha1-des.pem',
    'lt-pem-pbe-md5-rc2-64.pem',
    'lt-pem-pbe-sha1-rc2-64.pem',
    'lt-pem-pbe-sha1-rc2-40.pem',
    'lt-pem-pbe-sha1-3des.pem',
    'lt-pem-pbes2-rc2-cbc.pem',
    'lt-pem-pbes2-rc2-40-cbc.pem',
    'lt-pem-pbes2-des-cbc.pem',
  ])('opens %s with the right password, and says wrong password otherwise', async (file) => {
    const key = await openKeystore(fixture(file), { password: PASSWORD });
    expect(key.privateKey.export({ format: 'pem', type: 'pkcs8' })).toBe(source);
    const err = await rejection(openKeystore(fixture(file), { password: 'not it' }));
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toMatch(/^PEM key 'key' could not be decrypted/);
    expect(err.message).toMatch(/wrong password/);
  });

  it('refuses a cipher it lacks (PBES2 with Blowfish) by name, whatever the password', async () => {
    for (const password of [PASSWORD, 'not it']) {
      const err = await rejection(openKeystore(fixture('lt-pem-pbes2-bf-cbc.pem'), { password }));
      expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
      expect(err.message).toBe(
        'the PEM key is encrypted with PBES2 cipher OID 1.3.6.1.4.1.3029.1.2 (Blowfish-CBC), which the broker ' +
          'does not support; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`',
      );
    }
  });
});

describe('BouncyCastle BKS', () => {
  it.each([
    ['lt-bks.bks', []],
    ['lt-bks-v1.bks', ['the BKS keystore is version 1, whose MAC key has 16 bits; convert it to PKCS#12']],
  ])(
    'detects %s and lists its key, certificate and secret entries as keytool does',
    async (file, warnings) => {
      const bytes = fixture(file);
      expect(detectFormat(bytes)).toBe('bks');
      const listing = await listKeystore(bytes, { password: PASSWORD });
      expect(listing.format).toBe('bks');
      expect(listing.warnings).toEqual(warnings);
      expect(
        listing.entries.map((entry) => [entry.alias, entry.kind, entry.keyAlgorithm, entry.jwsAlgorithm]),
      ).toEqual([
        ['ca', 'trusted-cert', 'RSA', undefined],
        ['secret', 'secret-key', 'AES', undefined],
        ['second', 'private-key', 'EC', 'ES256'],
        ['signer', 'private-key', 'RSA', 'RS256'],
      ]);
      const key = await openKeystore(bytes, { password: PASSWORD, alias: 'signer', type: 'bks' });
      expect(key.x5tS256).toBe(x5tS256Of(`${file}.cert.pem`));
    },
  );

  it('says wrong password when the BKS MAC does not verify', async () => {
    const err = await rejection(openKeystore(fixture('lt-bks.bks'), { password: 'not it', alias: 'signer' }));
    expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
    expect(err.message).toBe('wrong keystore password (or the file was altered); check certPassword');
  });

  it('says the key password is wrong when the store password differs from the key password', async () => {
    const err = await rejection(
      openKeystore(fixture('lt-bks.bks'), { password: PASSWORD, keyPassword: 'other', alias: 'signer' }),
    );
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe(
      "the key of 'signer' could not be decrypted: wrong key password (in BKS it is often the store password)",
    );
  });

  it('refuses an UBER store by name', async () => {
    const err = await rejection(openKeystore(fixture('lt-uber.uber'), { password: PASSWORD }));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe(
      'this is a BouncyCastle UBER keystore (or a damaged BKS); UBER is not supported: convert it with ' +
        '`keytool -importkeystore -deststoretype PKCS12` and the BouncyCastle provider',
    );
  });

  it('reports a truncated BKS as damaged', async () => {
    const bytes = fixture('lt-bks.bks');
    const err = await rejection(openKeystore(bytes.subarray(0, bytes.length - 100), { password: PASSWORD }));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toMatch(/^BKS keystore is damaged or truncated \(.+\); restore it from a good copy$/);
  });
});
