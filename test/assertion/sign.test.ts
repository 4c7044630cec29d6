import { X509Certificate } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildClaims, signAssertion } from '../../lib/assertion/index.ts';
import { ConfigError, KeystoreError } from '../../lib/errors.ts';
import type { KeyMaterial } from '../../lib/keystore/types.ts';
import { fixtureKeyWithCertificate, generatedKey } from '../support/keys.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { tokenProfile } from '../support/token-profile.ts';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const NOW_S = NOW / 1000;

describe('signAssertion', () => {
  let withCert: { key: KeyMaterial; certificatePem: string };
  beforeAll(async () => {
    withCert = await fixtureKeyWithCertificate();
  });

  it('signs an RFC 7523 §2.1 grant that verifies with the certificate, sub = the subject', async () => {
    const profile = tokenProfile({ audience: 'https://idp.example.com' });
    const { jwt } = await signAssertion({
      profile,
      key: withCert.key,
      subject: 'bob@example.com',
      scopes: ['read'],
      now: NOW,
    });
    const cert = new X509Certificate(withCert.certificatePem);
    const { payload, protectedHeader } = await jwtVerify(jwt, cert.publicKey, {
      currentDate: new Date(NOW),
      audience: 'https://idp.example.com',
      issuer: 'client-1',
    });
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'JWT' });
    expect(payload).toMatchObject({
      sub: 'bob@example.com',
      iat: NOW_S - 30,
      nbf: NOW_S - 30,
      exp: NOW_S + 270,
    });
    expect(payload.scope).toBeUndefined();
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses iss = sub = client id and the profile audience in client-assertion mode (§2.2)', () => {
    const profile = tokenProfile({
      grant: 'client-assertion',
      issuer: 'app-7',
      tokenUri: { method: 'POST', url: 'https://login.example.com/oauth2/token' },
      audience: 'https://login.example.com',
    });
    const claims = buildClaims({ profile, subject: 'alice@example.com', scopes: [], now: NOW });
    // draft-ietf-oauth-rfc7523bis: the issuer identifier, when the profile writes it.
    expect(claims).toMatchObject({ iss: 'app-7', sub: 'app-7', aud: 'https://login.example.com' });
  });

  it('defaults a client assertion aud to the token endpoint, whatever the preset audience form (RFC 7523 §3)', () => {
    const cfg = parseConfig(
      'profiles:\n  p:\n    provider: docusign\n    grant: client-assertion\n    issuer: app-7\n    certStore: file:k.pem\n',
      'p.yaml',
    );
    expect(cfg.profiles['p']!.audience).toBe('https://account.docusign.com/oauth/token');
  });

  it('puts scope in the assertion only when the profile says scopeIn: assertion', () => {
    const inAssertion = buildClaims({
      profile: tokenProfile({ scopeIn: 'assertion' }),
      subject: 's',
      scopes: ['a', 'b'],
      now: NOW,
    });
    expect(inAssertion.scope).toBe('a b');
    const inForm = buildClaims({ profile: tokenProfile(), subject: 's', scopes: ['a'], now: NOW });
    expect(inForm.scope).toBeUndefined();
  });

  it('keeps an array audience and adds extra claims', () => {
    const claims = buildClaims({
      profile: tokenProfile({ audience: ['a', 'b'], assertion: { claims: { tenant: 't1' } } }),
      subject: 's',
      scopes: [],
      now: NOW,
    });
    expect(claims.aud).toEqual(['a', 'b']);
    expect(claims['tenant']).toBe('t1');
  });

  it('refuses extra claims that would override a reserved claim with ERR_CONFIG', () => {
    const profile = tokenProfile({ assertion: { claims: { sub: 'mallory' } } });
    let err: unknown;
    try {
      buildClaims({ profile, subject: 's', scopes: [], now: NOW });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({
      code: 'ERR_CONFIG',
      message: 'profile "demo": assertion.claims may not set the reserved claim "sub"; remove it',
    });
  });

  it('needs a subject for the §2.1 grant (ERR_CONFIG)', () => {
    expect(() => buildClaims({ profile: tokenProfile(), subject: undefined, scopes: [], now: NOW })).toThrow(
      'profile "demo" uses the jwt-bearer grant but no subject was given; set "subject" or pass one',
    );
  });

  it('keeps exp - iat equal to the lifetime and applies a clock offset', () => {
    const claims = buildClaims({
      profile: tokenProfile({ assertion: { lifetime: 3600, skew: 60 } }),
      subject: 's',
      scopes: [],
      now: NOW,
      clockOffset: -120_000,
    });
    expect(claims.iat).toBe(NOW_S - 120 - 60);
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it('gives every assertion a new jti', async () => {
    const { key } = generatedKey('ec');
    const input = { profile: tokenProfile(), key, subject: 's', scopes: [], now: NOW };
    const a = await signAssertion(input);
    const b = await signAssertion(input);
    expect(decodeJwt(a.jwt).jti).not.toBe(decodeJwt(b.jwt).jti);
    expect(decodeProtectedHeader(a.jwt).alg).toBe('ES256');
  });

  it('adds kid, x5t, x5t#S256 and x5c from the key material when asked', async () => {
    const profile = tokenProfile({ assertion: { x5t: true, x5tS256: true, x5c: true, kid: 'k-1' } });
    const { jwt } = await signAssertion({ profile, key: withCert.key, subject: 's', scopes: [], now: NOW });
    const header = decodeProtectedHeader(jwt);
    const cert = new X509Certificate(withCert.certificatePem);
    expect(header.kid).toBe('k-1');
    expect(header.x5t).toBe(withCert.key.x5t);
    expect(header['x5t#S256']).toBe(withCert.key.x5tS256);
    expect(header.x5c).toEqual([cert.raw.toString('base64')]);
  });

  it('refuses x5t when the key has no certificate, with ERR_CONFIG', async () => {
    const { key } = generatedKey('rsa');
    const profile = tokenProfile({ assertion: { x5t: true } });
    await expect(signAssertion({ profile, key, subject: 's', scopes: [], now: NOW })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: 'profile "demo" asks for x5t but its key store holds no certificate; add one or turn x5t off',
    });
  });

  it('refuses kid: true when the key has no id', async () => {
    const { key } = generatedKey('rsa');
    const profile = tokenProfile({ assertion: { kid: true } });
    await expect(signAssertion({ profile, key, subject: 's', scopes: [], now: NOW })).rejects.toThrow(
      'profile "demo" asks for kid: true but its key carries no key id; set a literal kid or turn kid off',
    );
  });

  it('signs PS256 when the profile asks for it explicitly', async () => {
    const { key, publicKey } = generatedKey('rsa');
    const profile = tokenProfile({ assertion: { algorithm: 'PS256' } });
    const { jwt } = await signAssertion({ profile, key, subject: 's', scopes: [], now: NOW });
    const { protectedHeader } = await jwtVerify(jwt, publicKey, { currentDate: new Date(NOW) });
    expect(protectedHeader.alg).toBe('PS256');
  });

  it('reports an algorithm that does not suit the key as ERR_UNSUPPORTED_KEY', async () => {
    const { key } = generatedKey('ec');
    const profile = tokenProfile({ assertion: { algorithm: 'RS256' } });
    const err = await signAssertion({ profile, key, subject: 's', scopes: [], now: NOW }).catch((e) => e);
    expect(err).toBeInstanceOf(KeystoreError);
    expect(err).toMatchObject({
      code: 'ERR_UNSUPPORTED_KEY',
      message: 'profile "demo": the ec key cannot sign RS256; choose an algorithm that suits the key',
    });
  });
});
