import { describe, expect, it } from 'vitest';
import { listKeystore, openKeystore } from '../../lib/keystore/index.ts';
import { parseGoogleJson, parseJwk } from '../../lib/keystore/jwk.ts';
import { fixture, rejection } from './helpers.ts';

const json = (name: string) => JSON.parse(fixture(name).toString('utf8')) as Record<string, unknown>;
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('JWK', () => {
  it('opens a private JWK under its kid, without a certificate', async () => {
    const km = await openKeystore(fixture('jwk-rsa2048.json'));
    expect(km).toMatchObject({
      alias: 'fixture-jwk-1',
      kid: 'fixture-jwk-1',
      format: 'jwk',
      jwsAlgorithm: 'RS256',
    });
    expect(km.certificates).toEqual([]);
    expect(km.x5t).toBeUndefined();
  });

  it('takes the chain from x5c and checks it against the key', async () => {
    const km = await openKeystore(fixture('jwk-ec256-x5c.json'));
    expect(km.certificates).toHaveLength(1);
    expect(km.x5tS256).toBeDefined();
    const other = json('jwk-ec256-x5c.json');
    const foreign = json('jwk-set.json')['keys'] as Record<string, unknown>[];
    const err = await rejection(openKeystore(bytes({ ...foreign[1], x5c: other['x5c'] })));
    expect(err.code).toBe('ERR_KEY_CERT_MISMATCH');
  });

  it('opens Ed25519 (OKP) keys with EdDSA', async () => {
    expect((await openKeystore(fixture('jwk-ed25519.json'))).jwsAlgorithm).toBe('EdDSA');
  });

  it('names JWK Set entries by kid, asks for one, and honours a member alg', async () => {
    const err = await rejection(openKeystore(fixture('jwk-set.json')));
    expect(err.code).toBe('ERR_ALIAS_REQUIRED');
    expect(err.message).toBe(
      'the keystore holds 2 private keys; choose one with the alias option: set-first, set-second',
    );
    expect((await openKeystore(fixture('jwk-set.json'), { alias: 'set-first' })).jwsAlgorithm).toBe('PS256');
    expect((await openKeystore(fixture('jwk-set.json'), { alias: 'set-second' })).jwsAlgorithm).toBe('ES384');
  });

  it("rejects a public-only JWK with ERR_UNSUPPORTED_KEY naming 'd'", async () => {
    const err = await rejection(openKeystore(fixture('jwk-public.json')));
    expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(err.message).toBe("JWK has no private part ('d'); give the private JWK, not the public one");
  });

  it('skips public members of a set with a warning and lists oct keys as secret-key entries', async () => {
    const store = parseJwk(
      bytes({
        keys: [
          json('jwk-public.json'),
          { kty: 'oct', kid: 'mac', k: 'c2VjcmV0', alg: 'HS256' },
          json('jwk-ed25519.json'),
        ],
      }),
    );
    expect(store.entries.map((e) => [e.alias, e.kind])).toEqual([
      ['mac', 'secret-key'],
      ['fixture-jwk-1', 'private-key'],
    ]);
    expect(store.warnings).toEqual(["JWK 'public-only' has no private part ('d') and was skipped"]);
    const listing = await listKeystore(
      bytes({ keys: [{ kty: 'oct', kid: 'mac', k: 'c2VjcmV0', alg: 'HS256' }, json('jwk-ed25519.json')] }),
    );
    expect(listing.entries[0]).toMatchObject({ alias: 'mac', kind: 'secret-key', keyAlgorithm: 'HS256' });
  });

  it('names a kid with control characters on one line', () => {
    const store = parseJwk(
      bytes({ keys: [{ ...json('jwk-public.json'), kid: 'two\nlines' }, json('jwk-ed25519.json')] }),
    );
    expect(store.warnings).toEqual(["JWK 'two?lines' has no private part ('d') and was skipped"]);
  });

  it('rejects an unsupported curve and malformed JSON', async () => {
    const k1 = await rejection(openKeystore(bytes({ kty: 'EC', crv: 'P-192', x: 'AA', y: 'AA', d: 'AA' })));
    expect(k1.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(k1.message).toContain('crv P-192');
    const broken = await rejection(() => parseJwk(Buffer.from('{"kty":"RSA",')));
    expect(broken.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(broken.message).toBe('the JWK is not valid JSON (damaged or truncated)');
  });
});

describe('Google service-account JSON', () => {
  it('opens the private_key under its private_key_id and carries client_email', async () => {
    const km = await openKeystore(fixture('google-sa.json'));
    expect(km).toMatchObject({
      format: 'google-json',
      alias: '0123456789abcdef0123456789abcdef01234567',
      kid: '0123456789abcdef0123456789abcdef01234567',
      clientEmail: 'fixture@token-broker-fixtures.iam.gserviceaccount.com',
      jwsAlgorithm: 'RS256',
    });
  });

  it('rejects a file without private_key with ERR_KEYSTORE_FORMAT', async () => {
    const err = await rejection(() =>
      parseGoogleJson(bytes({ type: 'service_account', client_email: 'a@b' })),
    );
    expect(err.code).toBe('ERR_KEYSTORE_FORMAT');
    expect(err.message).toContain("has no 'private_key' PEM");
  });
});
