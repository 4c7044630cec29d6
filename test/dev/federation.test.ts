import { GetWebIdentityTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { MAX_ISSUER_DOCUMENT_BYTES } from '../../lib/dev/federation-issuers.ts';
import { startStsServer, type StsServer } from '../support/sts-server.ts';

const ROLE = 'arn:aws:iam::123456789012:role/token-broker-TokenRole';
const OTHER_ROLE = 'arn:aws:iam::123456789012:role/someone-else';
const APP = '00000000-0000-0000-0000-00000000a11c';
const ENTRA_AUDIENCE = 'api://AzureADTokenExchange';
const GRAPH = 'https://graph.microsoft.com/.default';
const POOL = '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/aws-pool';
const PROVIDER = `${POOL}/providers/aws`;
const PAST_PROVIDER = `${POOL}/providers/aws-past`;
const SERVICE_ACCOUNT = 'broker@project.iam.gserviceaccount.com';
const BEARER_AUDIENCE = 'https://saas.example/oauth2/token';
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let sts: StsServer; // the trusted issuer
let past: StsServer; // trusted too, its clock two hours behind
let stranger: StsServer; // not trusted
let server: AuthorizationServer;
const clients: STSClient[] = [];
const secrets: string[] = [];

function stsClient(at: StsServer, accessKeyId = 'AKIDBROKER'): STSClient {
  const client = new STSClient({
    region: 'eu-west-1',
    endpoint: at.endpoint,
    credentials: { accessKeyId, secretAccessKey: 'test-secret-not-real' },
    maxAttempts: 1,
  });
  clients.push(client);
  return client;
}

/** A JWT from `at`'s GetWebIdentityToken, through the real SDK client. */
async function awsToken(
  at: StsServer,
  audience: string,
  options: { accessKeyId?: string; algorithm?: 'RS256' | 'ES384' } = {},
): Promise<string> {
  const out = await stsClient(at, options.accessKeyId).send(
    new GetWebIdentityTokenCommand({ Audience: [audience], SigningAlgorithm: options.algorithm ?? 'RS256' }),
  );
  secrets.push(out.WebIdentityToken!);
  return out.WebIdentityToken!;
}

async function post(path: string, body: Record<string, string> | object, json = false) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' },
    body: json ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>),
  });
  const text = await response.text();
  for (const secret of secrets) expect(text).not.toContain(secret);
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
}

const entra = (assertion: string, extra: Record<string, string> = {}) =>
  post('/token', {
    grant_type: 'client_credentials',
    client_id: APP,
    scope: GRAPH,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    ...extra,
  });

const googleSts = (subjectToken: string, extra: Record<string, string> = {}) =>
  post('/v1/token', {
    grant_type: TOKEN_EXCHANGE,
    audience: PROVIDER,
    scope: CLOUD_PLATFORM,
    requested_token_type: ACCESS_TOKEN_TYPE,
    subject_token_type: JWT_TYPE,
    subject_token: subjectToken,
    ...extra,
  });

async function impersonate(bearer: string | undefined, body: object, email = SERVICE_ACCOUNT) {
  const response = await fetch(
    `${server.url}/v1/projects/-/serviceAccounts/${encodeURIComponent(email)}:generateAccessToken`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(bearer && { authorization: `Bearer ${bearer}` }) },
      body: JSON.stringify(body),
    },
  );
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const jwksFetches = (issuer: string) =>
  server.issuerFetches.filter((f) => f.issuer === issuer && f.document === 'jwks').length;

beforeAll(async () => {
  const principals = { AKIDBROKER: ROLE, AKIDOTHER: OTHER_ROLE };
  sts = await startStsServer({ principals });
  past = await startStsServer({ principals, clock: () => Date.now() - 2 * 3600_000 });
  stranger = await startStsServer({ principals });
  server = await startAuthorizationServer({
    clients: [],
    federation: {
      allowHttpIssuer: true,
      trusts: [
        { issuer: sts.issuer, subject: ROLE, audiences: [ENTRA_AUDIENCE], clientId: APP },
        { issuer: past.issuer, subject: ROLE, audiences: [ENTRA_AUDIENCE], clientId: APP },
        { issuer: sts.issuer, subject: ROLE, audiences: [], clientId: PROVIDER },
        { issuer: past.issuer, subject: ROLE, audiences: [], clientId: PAST_PROVIDER },
        { issuer: sts.issuer, subject: ROLE, audiences: [BEARER_AUDIENCE] },
      ],
      serviceAccounts: [{ email: SERVICE_ACCOUNT, members: [`principal:${POOL}/subject/${ROLE}`] }],
    },
  });
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await Promise.all([server?.close(), sts?.close(), past?.close(), stranger?.close()]);
});

beforeEach(() => server.resetRequests());

afterAll(() => {
  // No record of the server holds a web identity JWT.
  const records = JSON.stringify([server.requests, server.issuerFetches]);
  for (const secret of secrets) expect(records).not.toContain(secret);
});

describe('Entra-style federated client credentials', () => {
  it('accepts the AWS JWT as client_assertion for the app whose credential names its iss, sub and aud', async () => {
    const before = jwksFetches(sts.issuer);
    const answer = await entra(await awsToken(sts, ENTRA_AUDIENCE));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600 });
    expect(server.introspect(String(answer.body['access_token']))).toMatchObject({
      clientId: APP,
      subject: ROLE,
      scope: GRAPH,
    });
    expect(server.requests).toEqual([
      {
        method: 'POST',
        grant: 'client_credentials',
        clientId: APP,
        subject: ROLE,
        status: 200,
        error: undefined,
        trust: sts.issuer,
      },
    ]);
    // The JWKS is fetched at most once and then cached: a second token costs no fetch.
    expect(jwksFetches(sts.issuer) - before).toBeLessThanOrEqual(1);
    const cached = jwksFetches(sts.issuer);
    expect((await entra(await awsToken(sts, ENTRA_AUDIENCE, { algorithm: 'ES384' }))).status).toBe(200);
    expect(jwksFetches(sts.issuer)).toBe(cached);
    expect(server.requestsTo('token')).toBe(2);
  });

  it.each([
    [
      'another role (sub)',
      700213,
      "presented assertion subject 'arn:aws:iam::123456789012:role/someone-else'",
    ],
    ['another audience (aud)', 700212, "presented assertion audience 'https://elsewhere.example'"],
    ['an issuer the app does not trust', 700211, 'presented assertion issuer'],
    ['an expired token', 700024, 'Client assertion is not within its valid time range.'],
  ] as const)('refuses %s with AADSTS%i', async (what, code, message) => {
    const token =
      what === 'another role (sub)'
        ? await awsToken(sts, ENTRA_AUDIENCE, { accessKeyId: 'AKIDOTHER' })
        : what === 'another audience (aud)'
          ? await awsToken(sts, 'https://elsewhere.example')
          : what === 'an expired token'
            ? await awsToken(past, ENTRA_AUDIENCE)
            : await awsToken(stranger, ENTRA_AUDIENCE);
    const answer = await entra(token);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ error: 'invalid_client', error_codes: [code] });
    expect(String(answer.body['error_description'])).toMatch(new RegExp(`^AADSTS${code}: `));
    expect(String(answer.body['error_description'])).toContain(message);
    expect(server.requests.at(-1)).toMatchObject({ status: 400, error: 'invalid_client', clientId: APP });
  });

  it('refuses a scope without /.default (AADSTS1002012) before looking at the assertion', async () => {
    const fetches = server.issuerFetches.length;
    const answer = await entra(await awsToken(sts, ENTRA_AUDIENCE), { scope: 'User.Read' });
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_scope', error_codes: [1002012] } });
    expect(server.issuerFetches.length).toBe(fetches);
  });

  it('follows a key rotation with one refetch; a kid the issuer never published is AADSTS700027 after one refetch', async () => {
    await entra(await awsToken(sts, ENTRA_AUDIENCE)); // JWKS cached
    const before = jwksFetches(sts.issuer);
    await sts.rotateKeys();
    expect((await entra(await awsToken(sts, ENTRA_AUDIENCE))).status).toBe(200);
    expect(jwksFetches(sts.issuer) - before).toBe(1);
    expect((await entra(await awsToken(sts, ENTRA_AUDIENCE))).status).toBe(200);
    expect(jwksFetches(sts.issuer) - before).toBe(1);

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'never-published', typ: 'JWT' })
      .setIssuer(sts.issuer)
      .setSubject(ROLE)
      .setAudience(ENTRA_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('forged')
      .sign(privateKey);
    secrets.push(forged);
    const answer = await entra(forged);
    expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_client', error_codes: [700027] } });
    expect(jwksFetches(sts.issuer) - before).toBe(2);
  });

  it('20 concurrent requests to a fresh server share one discovery and one JWKS fetch', async () => {
    const fresh = await startAuthorizationServer({
      clients: [],
      federation: {
        allowHttpIssuer: true,
        trusts: [{ issuer: sts.issuer, subject: ROLE, audiences: [ENTRA_AUDIENCE], clientId: APP }],
      },
    });
    try {
      const token = await awsToken(sts, ENTRA_AUDIENCE);
      const statuses = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const response = await fetch(fresh.tokenUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'client_credentials',
              client_id: APP,
              scope: GRAPH,
              client_assertion_type: CLIENT_ASSERTION_TYPE,
              client_assertion: token,
            }),
          });
          return response.status;
        }),
      );
      expect(statuses).toEqual(Array(20).fill(200));
      expect(fresh.issuerFetches).toEqual([
        { issuer: sts.issuer, document: 'openid-configuration', status: 200 },
        { issuer: sts.issuer, document: 'jwks', status: 200 },
      ]);
      expect(fresh.requestsTo('token')).toBe(20);
    } finally {
      await fresh.close();
    }
  });

  it('reads an issuer document of at most 64 KiB: a larger discovery is AADSTS90061, its JWKS never fetched', async () => {
    const paths: string[] = [];
    const issuerServer = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${issuer}/jwks.json`,
          padding: 'x'.repeat(MAX_ISSUER_DOCUMENT_BYTES),
        }),
      );
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
    const local = await startAuthorizationServer({
      clients: [],
      federation: {
        trusts: [{ issuer, subject: ROLE, audiences: [ENTRA_AUDIENCE], clientId: APP }],
        allowHttpIssuer: true,
      },
    });
    try {
      const { privateKey } = await generateKeyPair('RS256');
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setIssuer(issuer)
        .setSubject(ROLE)
        .setAudience(ENTRA_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      const response = await fetch(local.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: APP,
          scope: GRAPH,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: assertion,
        }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_client', error_codes: [90061] });
      expect(paths).toEqual(['/.well-known/openid-configuration']);
      expect(local.issuerFetches.map((f) => f.document)).toEqual(['openid-configuration']);
    } finally {
      await local.close();
      await new Promise((resolve) => issuerServer.close(resolve));
    }
  });

  it('refuses an http issuer unless allowHttpIssuer (AADSTS90061), fetching nothing', async () => {
    const strict = await startAuthorizationServer({
      clients: [],
      federation: {
        trusts: [{ issuer: sts.issuer, subject: ROLE, audiences: [ENTRA_AUDIENCE], clientId: APP }],
      },
    });
    try {
      const response = await fetch(strict.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: APP,
          scope: GRAPH,
          client_assertion_type: CLIENT_ASSERTION_TYPE,
          client_assertion: await awsToken(sts, ENTRA_AUDIENCE),
        }),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_client', error_codes: [90061] });
      expect(strict.issuerFetches).toEqual([]);
    } finally {
      await strict.close();
    }
  });
});

describe('Google-style STS and service account impersonation', () => {
  const googleAudience = `https:${PROVIDER}`;

  it('exchanges the AWS JWT (aud: the provider, Google default) for a federated token, then a service account token', async () => {
    const exchanged = await googleSts(await awsToken(sts, googleAudience));
    expect(exchanged.status).toBe(200);
    expect(exchanged.body).toEqual({
      access_token: expect.any(String),
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3600,
    });
    const federated = String(exchanged.body['access_token']);
    expect(server.introspect(federated)).toMatchObject({
      clientId: PROVIDER,
      subject: ROLE,
      scope: CLOUD_PLATFORM,
    });

    const before = Date.now();
    const sa = await impersonate(federated, { scope: [CLOUD_PLATFORM], lifetime: '600s' });
    expect(sa.status).toBe(200);
    expect(String(sa.body['expireTime'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const expires = Date.parse(String(sa.body['expireTime']));
    expect(expires).toBeGreaterThanOrEqual(before + 599_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(server.introspect(String(sa.body['accessToken']))).toMatchObject({
      clientId: SERVICE_ACCOUNT,
      scope: CLOUD_PLATFORM,
    });
    expect([server.requestsTo('google-sts'), server.requestsTo('google-generate-access-token')]).toEqual([
      1, 1,
    ]);
    expect(server.requests.map((r) => [r.endpoint, r.status, r.subject, r.trust])).toEqual([
      ['google-sts', 200, ROLE, sts.issuer],
      ['google-generate-access-token', 200, ROLE, undefined],
    ]);
  });

  it('accepts a JSON body with camelCase names and the id_token subject type', async () => {
    const answer = await post(
      '/v1/token',
      {
        grantType: TOKEN_EXCHANGE,
        audience: PROVIDER,
        scope: CLOUD_PLATFORM,
        requestedTokenType: ACCESS_TOKEN_TYPE,
        subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
        subjectToken: await awsToken(sts, PROVIDER),
      },
      true,
    );
    expect(answer.status).toBe(200);
  });

  it.each([
    [
      'another role (sub)',
      'unauthorized_client',
      'The given credential is rejected by the attribute condition.',
    ],
    [
      'another audience (aud)',
      'invalid_grant',
      'The audience in ID Token [https://elsewhere.example] does not match',
    ],
    ['an issuer the provider does not trust', 'invalid_grant', 'The issuer in ID Token'],
    ['an expired token', 'invalid_grant', 'The ID Token has expired.'],
  ] as const)('refuses %s: 400 %s', async (what, error, description) => {
    const [token, extra] =
      what === 'another role (sub)'
        ? [await awsToken(sts, googleAudience, { accessKeyId: 'AKIDOTHER' }), {}]
        : what === 'another audience (aud)'
          ? [await awsToken(sts, 'https://elsewhere.example'), {}]
          : what === 'an expired token'
            ? [await awsToken(past, `https:${PAST_PROVIDER}`), { audience: PAST_PROVIDER }]
            : [await awsToken(stranger, googleAudience), {}];
    const answer = await googleSts(token, extra);
    expect(answer.status).toBe(400);
    expect(answer.body['error']).toBe(error);
    expect(String(answer.body['error_description'])).toContain(description);
  });

  it('answers invalid_request for a malformed audience and invalid_target for an unknown provider', async () => {
    const token = await awsToken(sts, googleAudience);
    expect(await googleSts(token, { audience: 'projects/1/providers/x' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await googleSts(token, { audience: `${POOL}/providers/nowhere` })).toMatchObject({
      status: 400,
      body: { error: 'invalid_target' },
    });
    expect(await googleSts(token, { requested_token_type: JWT_TYPE })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', error_description: 'Invalid value for "requested_token_type".' },
    });
  });

  it('impersonation refuses a missing or non-federated bearer (401), an account the principal may not use (403), a lifetime over 3600s (400)', async () => {
    const federated = String((await googleSts(await awsToken(sts, googleAudience))).body['access_token']);
    expect(await impersonate(undefined, { scope: [CLOUD_PLATFORM] })).toMatchObject({
      status: 401,
      body: { error: { code: 401, status: 'UNAUTHENTICATED' } },
    });
    const entraToken = String((await entra(await awsToken(sts, ENTRA_AUDIENCE))).body['access_token']);
    expect((await impersonate(entraToken, { scope: [CLOUD_PLATFORM] })).status).toBe(401);
    expect(
      await impersonate(federated, { scope: [CLOUD_PLATFORM] }, 'other@project.iam.gserviceaccount.com'),
    ).toMatchObject({
      status: 403,
      body: {
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          message:
            "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
        },
      },
    });
    expect(await impersonate(federated, { scope: [CLOUD_PLATFORM], lifetime: '7200s' })).toMatchObject({
      status: 400,
      body: { error: { status: 'INVALID_ARGUMENT' } },
    });
    expect(await impersonate(federated, { lifetime: '60s' })).toMatchObject({
      status: 400,
      body: { error: { status: 'INVALID_ARGUMENT', message: 'Scope required.' } },
    });
  });
});

describe('RFC 7523 §2.1 assertion from a trusted issuer', () => {
  const bearer = (assertion: string) =>
    post('/token', { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion, scope: 'read' });

  it('answers a token for the trusted role', async () => {
    const answer = await bearer(await awsToken(sts, BEARER_AUDIENCE));
    expect(answer).toMatchObject({ status: 200, body: { token_type: 'Bearer', scope: 'read' } });
    expect(server.introspect(String(answer.body['access_token']))).toMatchObject({ subject: ROLE });
    expect(server.requests.at(-1)).toMatchObject({ subject: ROLE, trust: sts.issuer, status: 200 });
  });

  it('refuses another role, another audience, an untrusted issuer with invalid_grant', async () => {
    expect(await bearer(await awsToken(sts, BEARER_AUDIENCE, { accessKeyId: 'AKIDOTHER' }))).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: `the assertion sub is not trusted for issuer ${sts.issuer}`,
      },
    });
    expect(await bearer(await awsToken(sts, 'https://elsewhere.example'))).toMatchObject({
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: 'the assertion aud does not name this authorization server',
      },
    });
    expect(await bearer(await awsToken(stranger, BEARER_AUDIENCE))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'the assertion iss is not a registered client' },
    });
  });
});
