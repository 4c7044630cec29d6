import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { detectFormat, listKeystore, MAX_KEYSTORE_BYTES, openKeystore } from '../../lib/keystore/index.ts';
import { openRawStore } from '../../lib/keystore/open.ts';
import type { RawEntry, RawStore } from '../../lib/keystore/types.ts';
import { fixture, rejection } from './helpers.ts';

const certDer = (name: string) => new X509Certificate(fixture(name)).raw;

function store(entries: RawEntry[]): RawStore {
  return { format: 'jks', entries, warnings: [] };
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const keyEntry = (alias: string): RawEntry => ({
  alias,
  kind: 'private-key',
  certificates: [],
  decryptKey: () => rsa,
});
const trusted: RawEntry = {
  alias: 'ca',
  kind: 'trusted-cert',
  certificates: [certDer('pem-ec256-pkcs8.pem.cert.pem')],
};
const secret: RawEntry = {
  alias: 'hmac',
  kind: 'secret-key',
  certificates: [],
  secretAlgorithm: 'HmacSHA256',
};

describe('detectFormat', () => {
  it('tells each format from its bytes', () => {
    expect(detectFormat(Buffer.from([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]))).toBe('jks');
    expect(detectFormat(Buffer.from([0xce, 0xce, 0xce, 0xce, 0, 0, 0, 2]))).toBe('jceks');
    expect(detectFormat(Buffer.from('\uFEFF \n-----BEGIN PRIVATE KEY-----\n'))).toBe('pem');
    expect(detectFormat(fixture('jwk-rsa2048.json'))).toBe('jwk');
    expect(detectFormat(Buffer.from('{"keys":[]}'))).toBe('jwk');
    expect(detectFormat(fixture('google-sa.json'))).toBe('google-json');
    // SEQUENCE { INTEGER 3, SEQUENCE {} }: the PFX outline
    expect(detectFormat(Buffer.from([0x30, 0x05, 0x02, 0x01, 0x03, 0x30, 0x00]))).toBe('pkcs12');
  });

  it('rejects empty input and unknown bytes with ERR_KEYSTORE_FORMAT', async () => {
    const empty = await rejection(() => detectFormat(new Uint8Array()));
    expect(empty.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(empty.message).toContain('empty');
    const unknown = await rejection(() => detectFormat(Buffer.from('{"hello":"world"}')));
    expect(unknown.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(unknown.message).toBe(
      'not a keystore: expected JKS, JCEKS, PKCS#12, BKS, PEM, JWK or Google service-account JSON',
    );
    // a DER SEQUENCE that is not a PFX (version 0, like a PKCS#8 key)
    const der = await rejection(() => detectFormat(Buffer.from([0x30, 0x05, 0x02, 0x01, 0x00, 0x30, 0x00])));
    expect(der.code).toBe('ERR_KEYSTORE_FORMAT');
  });
});

describe('openKeystore', () => {
  it('rejects input over the size cap with ERR_KEYSTORE_TOO_LARGE', async () => {
    const err = await rejection(openKeystore(new Uint8Array(MAX_KEYSTORE_BYTES + 1)));
    expect(err.code).toBe('ERR_KEYSTORE_TOO_LARGE');
    expect(err.message).toContain(`${MAX_KEYSTORE_BYTES}-byte limit`);
  });

  it('says which format the bytes are when an explicit type disagrees', async () => {
    const err = await rejection(openKeystore(fixture('pem-ec256-pkcs8.pem'), { type: 'jks' }));
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toBe("the keystore is PEM, not JKS; set the type to 'pem' or 'auto'");
  });

  it('gives x5t and x5t#S256 of the leaf DER, the notAfter and the default algorithm', async () => {
    const km = await openKeystore(fixture('pem-rsa2048-with-cert.pem'));
    const cert = new X509Certificate(fixture('pem-rsa2048-with-cert.pem.cert.pem'));
    expect(km.alias).toBe('key');
    expect(km.jwsAlgorithm).toBe('RS256');
    expect(km.x5t).toBe(Buffer.from(cert.fingerprint.replaceAll(':', ''), 'hex').toString('base64url'));
    expect(km.x5tS256).toBe(
      Buffer.from(cert.fingerprint256.replaceAll(':', ''), 'hex').toString('base64url'),
    );
    expect(km.notAfter).toEqual(new Date(cert.validTo));
    expect(km.warnings).toEqual([]);
  });

  it('signs with PS256 on request and refuses an algorithm that does not suit the key', async () => {
    const pem = fixture('pem-rsa2048-pkcs8.pem');
    expect((await openKeystore(pem, { algorithm: 'PS256' })).jwsAlgorithm).toBe('PS256');
    const err = await rejection(openKeystore(pem, { algorithm: 'ES256' }));
    expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(err.message).toBe(
      'algorithm ES256 does not suit an RSA 2048-bit key; use RS256, RS384, RS512, PS256, PS384, PS512 or auto',
    );
    const ec = await rejection(openKeystore(fixture('pem-ec384-pkcs8.pem'), { algorithm: 'ES256' }));
    expect(ec.message).toContain('use ES384 or auto');
  });

  it('picks ES384/ES512 by curve and EdDSA for Ed25519', async () => {
    expect((await openKeystore(fixture('pem-ec384-sec1.pem'))).jwsAlgorithm).toBe('ES384');
    expect((await openKeystore(fixture('pem-ec521-pkcs8.pem'))).jwsAlgorithm).toBe('ES512');
    expect((await openKeystore(fixture('pem-ed25519-pkcs8.pem'))).jwsAlgorithm).toBe('EdDSA');
  });

  it('rejects RSA 1024, secp256k1 and Ed448 with ERR_UNSUPPORTED_KEY saying what is supported', async () => {
    for (const [file, phrase] of [
      ['pem-rsa1024.pem', 'RSA 1024-bit key'],
      ['pem-secp256k1.pem', 'EC secp256k1 key'],
      ['pem-ed448.pem', 'Ed448 key'],
    ] as const) {
      const err = await rejection(openKeystore(fixture(file)));
      expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
      expect(err.message).toBe(
        `${phrase} is not supported; use RSA 2048 to 4096 bits, EC P-256, P-384 or P-521, or Ed25519`,
      );
    }
  });

  it('warns, not fails, for an expired or not-yet-valid certificate, using the given clock', async () => {
    const expired = await openKeystore(fixture('pem-expired.pem'));
    expect(expired.warnings).toEqual([
      "certificate of 'key' expired on 2021-01-01T00:00:00.000Z; providers may reject it",
    ]);
    const inPast = await openKeystore(fixture('pem-expired.pem'), { now: new Date('2020-06-01T00:00:00Z') });
    expect(inPast.warnings).toEqual([]);
    const early = await openKeystore(fixture('pem-not-yet-valid.pem'));
    expect(early.warnings[0]).toContain('is not yet valid (valid from 2099-01-01T00:00:00.000Z)');
  });

  it('rejects a key whose certificate is another key with ERR_KEY_CERT_MISMATCH', async () => {
    const err = await rejection(openKeystore(fixture('pem-mismatch.pem')));
    expect(err.code).toBe('ERR_KEY_CERT_MISMATCH');
    expect(err.message).toBe(
      "the private key of 'key' does not match its certificate (O=token-broker fixtures, CN=pem-mismatch); " +
        'store the key together with its own certificate',
    );
  });
});

describe('openRawStore alias rules', () => {
  it('opens the only private key when no alias is given, ignoring trusted and secret entries', () => {
    const km = openRawStore(store([trusted, keyEntry('signer'), secret]));
    expect(km.alias).toBe('signer');
    expect(km.privateKey).toBe(rsa);
  });

  it('asks for an alias when there are several private keys, listing them', async () => {
    const err = await rejection(() => openRawStore(store([keyEntry('a'), trusted, keyEntry('b')])));
    expect(err.code).toBe('ERR_ALIAS_REQUIRED');
    expect(err.message).toBe('the keystore holds 2 private keys; choose one with the alias option: a, b');
  });

  it('matches aliases case-insensitively', () => {
    expect(openRawStore(store([keyEntry('a'), keyEntry('signer')]), { alias: 'SIGNER' }).alias).toBe(
      'signer',
    );
  });

  it('names the aliases when the alias is unknown', async () => {
    const err = await rejection(() => openRawStore(store([keyEntry('a'), keyEntry('b')]), { alias: 'x' }));
    expect(err.code).toBe('ERR_ALIAS_NOT_FOUND');
    expect(err.message).toBe("alias 'x' not found; aliases: a, b");
  });

  it('refuses a trusted-cert or secret-key alias as not a private key entry', async () => {
    for (const entry of [trusted, secret]) {
      const err = await rejection(() => openRawStore(store([keyEntry('a'), entry]), { alias: entry.alias }));
      expect(err.code).toBe('ERR_ALIAS_NOT_FOUND');
      expect(err.message).toBe(
        `alias '${entry.alias}' is a ${entry.kind} entry, not a private key entry; private-key aliases: a`,
      );
    }
  });

  it('reports a store without any private key', async () => {
    const err = await rejection(() => openRawStore(store([trusted])));
    expect(err.code).toBe('ERR_ALIAS_NOT_FOUND');
    expect(err.message).toBe(
      'the keystore holds no private-key entry; entries: ca (trusted-cert); add the key to the store',
    );
  });

  it('passes the key password, else the store password, to the entry', () => {
    const seen: (string | undefined)[] = [];
    const entry: RawEntry = { ...keyEntry('k'), decryptKey: (password) => (seen.push(password), rsa) };
    openRawStore(store([entry]), { password: 'store' });
    openRawStore(store([entry]), { password: 'store', keyPassword: 'key' });
    expect(seen).toEqual(['store', 'key']);
  });

  it('keeps control characters of an alias out of messages', async () => {
    const err = await rejection(() => openRawStore(store([keyEntry('a\nb'), keyEntry('c')])));
    expect(err.message).toBe('the keystore holds 2 private keys; choose one with the alias option: a?b, c');
  });
});

describe('listKeystore', () => {
  it('lists each key of a PEM with algorithm, size and thumbprint', async () => {
    const listing = await listKeystore(fixture('pem-two-keys.pem'));
    expect(listing.format).toBe('pem');
    expect(
      listing.entries.map((e) => [e.alias, e.kind, e.keyAlgorithm, e.keySize, e.curve, e.jwsAlgorithm]),
    ).toEqual([
      ['key-1', 'private-key', 'RSA', 2048, undefined, 'RS256'],
      ['key-2', 'private-key', 'EC', 256, 'P-256', 'ES256'],
    ]);
    const cert2 = new X509Certificate(fixture('pem-two-keys.key-2.cert.pem'));
    expect(listing.entries[1]!.subject).toBe('O=token-broker fixtures, CN=pem-two-keys-2');
    expect(listing.entries[1]!.x5tS256).toBe(
      Buffer.from(cert2.fingerprint256.replaceAll(':', ''), 'hex').toString('base64url'),
    );
  });

  it('describes an encrypted key from its certificate and warns when no password is given', async () => {
    const listing = await listKeystore(fixture('pem-ec384-encrypted-with-cert.pem'));
    expect(listing.entries[0]).toMatchObject({ keyAlgorithm: 'EC', curve: 'P-384', jwsAlgorithm: 'ES384' });
    expect(listing.warnings).toEqual([
      "key of 'key' not decrypted (PEM key 'key' is encrypted and needs a password; give the key password)",
    ]);
  });

  it('lists an unsupported key with a warning instead of failing', async () => {
    const listing = await listKeystore(fixture('pem-rsa1024.pem'));
    expect(listing.entries[0]).toMatchObject({ keyAlgorithm: 'RSA', keySize: 1024, jwsAlgorithm: undefined });
    expect(listing.warnings[0]).toContain("'key' holds an RSA 1024-bit key, which is not supported");
  });
});
