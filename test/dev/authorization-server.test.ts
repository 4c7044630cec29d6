import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { KeyMaterial } from '../../lib/keystore/types.ts';
import { fixtureKeyWithCertificate, generatedKey } from '../support/keys.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let server: AuthorizationServer;
let key: KeyMaterial;
const other = generatedKey('ec');
let jti = 0;

beforeAll(async () => {
  const fixture = await fixtureKeyWithCertificate();
  key = fixture.key;
  server = await startAuthorizationServer({
    clients: [
      {
        clientId: 'app',
        certificatePem: fixture.certificatePem,
        subjects: ['alice', 'bob'],
        scopes: ['read', 'write'],
      },
      { clientId: 'consent-app', certificatePem: fixture.certificatePem, requireConsent: true },
      {
        clientId: 'header-app',
        certificatePem: fixture.certificatePem,
        requiredHeaders: { SecurityToken: 'st' },
      },
      { clientId: 'get-app', certificatePem: fixture.certificatePem, allowGet: true },
      { clientId: 'ec-app', publicKey: other.publicKey },
    ],
  });
});
afterAll(() => server.close());

async function assertion(claims: JWTPayload = {}, signer = key.privateKey, alg = 'RS256'): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: 'app',
    sub: 'alice',
    aud: server.tokenUrl,
    iat: now,
    exp: now + 300,
    jti: `jti-${++jti}`,
    ...claims,
  })
    .setProtectedHeader({ alg })
    .sign(signer);
}

async function post(params: Record<string, string>, headers: Record<string, string> = {}) {
  const res = await fetch(server.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const grant = async (claims: JWTPayload = {}, extra: Record<string, string> = {}) =>
  post({ grant_type: JWT_BEARER, assertion: await assertion(claims), ...extra });

describe('the development authorization server', () => {
  it('issues an RFC 6749 §5.1 token for a valid jwt-bearer assertion', async () => {
    const { status, body, headers } = await grant({}, { scope: 'read' });
    expect(status).toBe(200);
    expect(body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read',
    });
    expect(headers.get('cache-control')).toBe('no-store');
    expect(server.introspect(body['access_token'] as string)).toMatchObject({
      clientId: 'app',
      subject: 'alice',
    });
  });

  it('issues a token for client_credentials with a private_key_jwt client assertion', async () => {
    const { status, body } = await post({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await assertion({ sub: 'app' }),
    });
    expect(status).toBe(200);
    expect(body['token_type']).toBe('Bearer');
  });

  it.each([
    [
      'a wrong signature',
      () => assertion({}, other.key.privateKey, 'ES256'),
      'invalid_grant',
      /signature does not verify|alg does not suit/,
    ],
    [
      'a wrong audience',
      () => assertion({ aud: 'https://elsewhere' }),
      'invalid_grant',
      /aud does not name this token endpoint/,
    ],
    [
      'an unknown issuer',
      () => assertion({ iss: 'nobody' }),
      'invalid_grant',
      /iss is not a registered client/,
    ],
    ['an expired assertion', () => assertion({ iat: 1000, exp: 1300 }), 'invalid_grant', /expired \(exp/],
    [
      'a future nbf',
      () => assertion({ nbf: Math.floor(Date.now() / 1000) + 600 }),
      'invalid_grant',
      /not yet valid \(nbf/,
    ],
    [
      'a future iat',
      () => assertion({ iat: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 900 }),
      'invalid_grant',
      /iat is in the future/,
    ],
    [
      'a too long lifetime',
      () => assertion({ exp: Math.floor(Date.now() / 1000) + 7200 }),
      'invalid_grant',
      /lifetime exceeds 3600 seconds/,
    ],
    ['no jti', () => assertion({ jti: undefined }), 'invalid_grant', /jti/],
    [
      'a subject not allowed',
      () => assertion({ sub: 'mallory' }),
      'invalid_grant',
      /subject "mallory" is not allowed/,
    ],
  ])('refuses %s', async (_name, make, error, description) => {
    const { status, body } = await post({ grant_type: JWT_BEARER, assertion: await make() });
    expect(status).toBe(400);
    expect(body['error']).toBe(error);
    expect(body['error_description']).toMatch(description);
  });

  it('refuses a replayed jti', async () => {
    const jwt = await assertion();
    expect((await post({ grant_type: JWT_BEARER, assertion: jwt })).status).toBe(200);
    const replay = await post({ grant_type: JWT_BEARER, assertion: jwt });
    expect(replay).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'the assertion jti was already used' },
    });
  });

  it('refuses a scope outside the client’s with invalid_scope', async () => {
    const { status, body } = await grant({}, { scope: 'read admin' });
    expect(status).toBe(400);
    expect(body).toEqual({ error: 'invalid_scope', error_description: 'scope not allowed: admin' });
  });

  it('answers invalid_client with 401 for a bad client assertion', async () => {
    const { status, body } = await post({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await assertion({ sub: 'app', aud: 'https://elsewhere' }),
    });
    expect(status).toBe(401);
    expect(body['error']).toBe('invalid_client');
  });

  it('refuses an unknown grant type', async () => {
    const { status, body } = await post({ grant_type: 'password' });
    expect(status).toBe(400);
    expect(body).toEqual({
      error: 'unsupported_grant_type',
      error_description: 'grant_type "password" is not supported',
    });
  });

  it('answers consent_required until consent is granted', async () => {
    const claims = { iss: 'consent-app', sub: 'carol' };
    expect((await grant(claims)).body['error']).toBe('consent_required');
    server.grantConsent('consent-app', 'carol');
    expect((await grant(claims)).status).toBe(200);
    expect(server.hasConsent('consent-app', 'carol')).toBe(true);
  });

  it('requires the configured custom headers', async () => {
    const missing = await grant({ iss: 'header-app' });
    expect(missing.body).toEqual({
      error: 'invalid_request',
      error_description: 'the header "SecurityToken" is missing or wrong',
    });
    const ok = await post(
      { grant_type: JWT_BEARER, assertion: await assertion({ iss: 'header-app' }) },
      { SecurityToken: 'st' },
    );
    expect(ok.status).toBe(200);
  });

  it('accepts GET only for clients that allow it', async () => {
    const get = async (iss: string) => {
      const url = new URL(server.tokenUrl);
      url.searchParams.set('grant_type', JWT_BEARER);
      url.searchParams.set('assertion', await assertion({ iss }));
      const res = await fetch(url);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect((await get('get-app')).status).toBe(200);
    expect(await get('app')).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'the token endpoint accepts POST only' },
    });
  });

  it('refuses a body that is not form-encoded', async () => {
    const res = await fetch(server.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid_request',
      error_description: 'the body must be application/x-www-form-urlencoded',
    });
  });

  it('logs each token request with method, grant, client and subject', async () => {
    const before = server.requestCount();
    await grant({ sub: 'bob' });
    expect(server.requestCount()).toBe(before + 1);
    expect(server.requests.at(-1)).toEqual({
      method: 'POST',
      grant: JWT_BEARER,
      clientId: 'app',
      subject: 'bob',
      status: 200,
      error: undefined,
    });
  });

  it('verifies ES256 assertions from a client registered by public key', async () => {
    const jwt = await assertion({ iss: 'ec-app' }, other.key.privateKey, 'ES256');
    expect((await post({ grant_type: JWT_BEARER, assertion: jwt })).status).toBe(200);
  });
});

describe('the development authorization server clock', () => {
  it('uses its injected clock for verification and its Date header', async () => {
    const skewed = Date.now() - 10 * 60_000;
    const fixture = await fixtureKeyWithCertificate();
    const local = await startAuthorizationServer({
      clients: [{ clientId: 'app', certificatePem: fixture.certificatePem }],
      clock: () => skewed,
      audience: ['issuer', 'token-url'],
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await new SignJWT({
        iss: 'app',
        sub: 'x',
        aud: local.url,
        iat: now,
        exp: now + 60,
        jti: 'j',
      })
        .setProtectedHeader({ alg: 'RS256' })
        .sign(fixture.key.privateKey);
      const res = await fetch(local.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: JWT_BEARER, assertion: jwt }),
      });
      expect(res.status).toBe(400);
      expect(Date.parse(res.headers.get('date')!)).toBeLessThan(Date.now() - 9 * 60_000);
      expect(((await res.json()) as { error_description: string }).error_description).toMatch(
        /not yet valid|iat/,
      );
    } finally {
      await local.close();
    }
  });
});
