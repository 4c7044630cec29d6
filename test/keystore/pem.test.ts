import { describe, expect, it } from 'vitest';
import { openKeystore } from '../../lib/keystore/index.ts';
import { parsePem } from '../../lib/keystore/pem.ts';
import { fixture, rejection } from './helpers.ts';

const text = (name: string) => fixture(name).toString('utf8');
const PASS = 'pä ss wörd ✓';

describe('parsePem', () => {
  it('reads PKCS#1, PKCS#8 and SEC1 keys without a password', () => {
    for (const file of ['pem-rsa2048-pkcs1.pem', 'pem-rsa3072-pkcs8.pem', 'pem-ec521-sec1.pem']) {
      const store = parsePem(fixture(file));
      expect(store.entries.map((e) => [e.alias, e.kind])).toEqual([['key', 'private-key']]);
      expect(store.entries[0]!.decryptKey!(undefined).type).toBe('private');
    }
  });

  it('decrypts encrypted PKCS#8 (PBES2, AES-256) with a password holding spaces and non-ASCII', () => {
    const key = parsePem(fixture('pem-rsa2048-encrypted.pem')).entries[0]!.decryptKey!(PASS);
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('decrypts legacy OpenSSL encryption (Proc-Type: 4,ENCRYPTED)', () => {
    const key = parsePem(fixture('pem-rsa2048-legacy-encrypted.pem')).entries[0]!.decryptKey!('legacy pass');
    expect(key.asymmetricKeyType).toBe('rsa');
  });

  it('says a password is needed for an encrypted key given none, with ERR_KEY_PASSWORD', async () => {
    const entry = parsePem(fixture('pem-rsa2048-encrypted.pem')).entries[0]!;
    const err = await rejection(() => entry.decryptKey!(undefined));
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toBe("PEM key 'key' is encrypted and needs a password; give the key password");
  });

  it('rejects a wrong password with ERR_KEY_PASSWORD and keeps it out of the message', async () => {
    const err = await rejection(
      openKeystore(fixture('pem-rsa2048-encrypted.pem'), { password: 'Tr0ub4dor&3' }),
    );
    expect(err.code).toBe('ERR_KEY_PASSWORD');
    expect(err.message).toMatch(/^PEM key 'key' could not be decrypted: wrong password/);
    expect(err.message).not.toContain('Tr0ub4dor');
  });

  it('takes the certificate that matches the key as leaf, whatever the order in the file', async () => {
    const pem =
      text('pem-two-keys.key-2.cert.pem') +
      text('pem-rsa2048-pkcs8.pem.cert.pem') +
      text('pem-rsa2048-pkcs8.pem');
    const km = await openKeystore(Buffer.from(pem));
    expect(km.certificates.map((c) => c.subject)).toEqual([
      'O=token-broker fixtures\nCN=pem-rsa2048-pkcs8',
      'O=token-broker fixtures\nCN=pem-two-keys-2',
    ]);
  });

  it('names several keys key-1, key-2 and gives each its own certificate', async () => {
    const km = await openKeystore(fixture('pem-two-keys.pem'), { alias: 'key-2' });
    expect(km.alias).toBe('key-2');
    expect(km.jwsAlgorithm).toBe('ES256');
    expect(km.certificates[0]!.subject).toContain('CN=pem-two-keys-2');
  });

  it('accepts a certificate given beside the key as PEM or DER', async () => {
    const certPem = text('pem-ec256-pkcs8.pem.cert.pem');
    const fromPem = await openKeystore(fixture('pem-ec256-pkcs8.pem'), { certificate: certPem });
    const der = fromPem.certificates[0]!.raw;
    const fromDer = await openKeystore(fixture('pem-ec256-pkcs8.pem'), { certificate: der });
    expect(fromDer.x5tS256).toBe(fromPem.x5tS256);
    expect(fromPem.x5tS256).toBeDefined();
  });

  it('gives certificate-only PEM files trusted-cert entries and no key to open', async () => {
    const store = parsePem(fixture('pem-ec256-pkcs8.pem.cert.pem'));
    expect(store.entries.map((e) => [e.alias, e.kind])).toEqual([['cert', 'trusted-cert']]);
    const err = await rejection(openKeystore(fixture('pem-ec256-pkcs8.pem.cert.pem')));
    expect(err.code).toBe('ERR_ALIAS_NOT_FOUND');
  });

  it.each([
    [
      'pem-damaged-truncated.pem',
      'a PEM block has no matching END line (the file is truncated); copy the whole file again',
    ],
    [
      'pem-damaged-base64.pem',
      "PEM block 'PRIVATE KEY' is not valid base64 (damaged or truncated); copy the file again",
    ],
    ['pem-damaged-short-body.pem', "PEM block 'PRIVATE KEY' is truncated or damaged; export the key again"],
  ])('rejects %s with ERR_KEYSTORE_FORMAT', async (file, message) => {
    const err = await rejection(() => parsePem(fixture(file)));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe(message);
  });

  it('rejects random bytes inside a well-formed block with ERR_KEYSTORE_FORMAT', async () => {
    const err = await rejection(openKeystore(fixture('pem-damaged-garbage.pem')));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toMatch(
      /PEM (block 'PRIVATE KEY' is truncated or damaged|key 'key' could not be read)/,
    );
  });

  it('says a public key alone is not enough, and points OpenSSH keys to a conversion', async () => {
    const pub = await rejection(() =>
      parsePem(Buffer.from('-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n')),
    );
    expect(pub.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(pub.message).toContain('holds a public key but no private key');
    const ssh = await rejection(() =>
      parsePem(
        Buffer.from('-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n'),
      ),
    );
    expect(ssh.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(ssh.message).toContain('ssh-keygen -p -m PKCS8');
  });
});
