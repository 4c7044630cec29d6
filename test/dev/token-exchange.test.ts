import { SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { KeyMaterial } from '../../lib/keystore/types.ts';
import { fixtureKeyWithCertificate, generatedKey } from '../support/keys.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let server: AuthorizationServer;
let key: KeyMaterial;
const stranger = generatedKey('rsa');
let jti = 0;

beforeAll(async () => {
  const fixture = await fixtureKeyWithCertificate();
  key = fixture.key;
  server = await startAuthorizationServer({
    clients: [
      {
        clientId: 'app',
        certificatePem: fixture.certificatePem,
        subjects: ['alice'],
        tokenExchange: { audiences: ['billing'], resources: ['https://api.example.com/v1'] },
      },
      {
        clientId: 'typed',
        certificatePem: fixture.certificatePem,
        tokenExchange: { issuedTokenType: 'urn:ietf:params:oauth:token-type:id_token' },
      },
    ],
  });
});
afterAll(() => server.close());

async function subjectToken(
  claims: JWTPayload = {},
  signer = key.privateKey,
  alg = 'RS256',
): Promise<string> {
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

async function post(params: URLSearchParams | Record<string, string>) {
  const res = await fetch(server.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const exchange = async (claims: JWTPayload = {}, extra: Record<string, string> = {}) =>
  post({
    grant_type: TOKEN_EXCHANGE,
    subject_token: await subjectToken(claims),
    subject_token_type: JWT_TYPE,
    ...extra,
  });

describe('the development authorization server, RFC 8693 token exchange', () => {
  it('answers §2.2.1 with issued_token_type for a subject token signed by a registered client', async () => {
    const { status, body } = await exchange(
      {},
      { audience: 'billing', resource: 'https://api.example.com/v1' },
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      access_token: expect.any(String),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
    });
    expect(server.introspect(body['access_token'] as string)).toMatchObject({
      clientId: 'app',
      subject: 'alice',
      audience: ['billing'],
      resource: ['https://api.example.com/v1'],
    });
  });

  it('answers the requested type, or the type a client is set to issue', async () => {
    const asked = await exchange({}, { requested_token_type: JWT_TYPE });
    expect(asked.body['issued_token_type']).toBe(JWT_TYPE);
    const typed = await exchange({ iss: 'typed', sub: 'bob' }, { requested_token_type: JWT_TYPE });
    expect(typed.body['issued_token_type']).toBe('urn:ietf:params:oauth:token-type:id_token');
  });

  it('refuses a subject token that does not verify, is addressed elsewhere, has expired or is replayed, as invalid_request (§2.2.2)', async () => {
    const foreign = await post({
      grant_type: TOKEN_EXCHANGE,
      subject_token: await subjectToken({}, stranger.key.privateKey),
      subject_token_type: JWT_TYPE,
    });
    expect([foreign.status, foreign.body]).toEqual([
      400,
      {
        error: 'invalid_request',
        error_description: 'the assertion signature does not verify with the registered certificate',
      },
    ]);
    const elsewhere = await exchange({ aud: 'https://other.example.com/token' });
    expect(elsewhere.body).toEqual({
      error: 'invalid_request',
      error_description: 'the assertion aud does not name this token endpoint',
    });
    const now = Math.floor(Date.now() / 1000);
    const expired = await exchange({ iat: now - 1000, exp: now - 600 });
    expect(expired.body['error_description']).toBe('the assertion has expired (exp is in the past)');
    const token = await subjectToken();
    const form = { grant_type: TOKEN_EXCHANGE, subject_token: token, subject_token_type: JWT_TYPE };
    expect((await post(form)).status).toBe(200);
    expect((await post(form)).body).toEqual({
      error: 'invalid_request',
      error_description: 'the assertion jti was already used',
    });
  });

  it('refuses missing parameters, another subject_token_type and actor tokens as invalid_request', async () => {
    expect((await post({ grant_type: TOKEN_EXCHANGE, subject_token_type: JWT_TYPE })).body).toEqual({
      error: 'invalid_request',
      error_description: 'the subject_token parameter is missing',
    });
    expect((await post({ grant_type: TOKEN_EXCHANGE, subject_token: await subjectToken() })).body).toEqual({
      error: 'invalid_request',
      error_description: 'the subject_token_type parameter is missing',
    });
    expect((await exchange({}, { subject_token_type: ACCESS_TOKEN_TYPE })).body).toEqual({
      error: 'invalid_request',
      error_description: `subject_token_type "${ACCESS_TOKEN_TYPE}" is not supported`,
    });
    expect((await exchange({}, { actor_token: 'x', actor_token_type: JWT_TYPE })).body).toEqual({
      error: 'invalid_request',
      error_description: 'actor tokens are not supported',
    });
  });

  it('answers invalid_target for an audience or resource the client may not reach', async () => {
    const params = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: await subjectToken(),
      subject_token_type: JWT_TYPE,
    });
    params.append('audience', 'billing');
    params.append('audience', 'ledger');
    params.append('resource', 'https://api.example.com/v2');
    const { status, body } = await post(params);
    expect([status, body]).toEqual([
      400,
      {
        error: 'invalid_target',
        error_description: 'no token is issued for ledger, https://api.example.com/v2',
      },
    ]);
  });

  it('records each exchange it answered, and forgets them on reset', async () => {
    server.resetRequests();
    await exchange({}, { audience: 'billing', scope: 'read' });
    expect(server.exchanges).toEqual([
      {
        clientId: 'app',
        subject: 'alice',
        subjectTokenType: JWT_TYPE,
        requestedTokenType: undefined,
        audience: ['billing'],
        resource: [],
        scope: 'read',
        parameters: ['grant_type', 'subject_token', 'subject_token_type', 'audience', 'scope'],
      },
    ]);
    expect(server.requests.map((r) => [r.grant, r.clientId, r.subject, r.status])).toEqual([
      [TOKEN_EXCHANGE, 'app', 'alice', 200],
    ]);
    server.resetRequests();
    expect(server.exchanges).toEqual([]);
  });
});
