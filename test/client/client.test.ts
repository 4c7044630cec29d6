import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  TokenBrokerClient,
  TokenBrokerError,
  tokenFingerprint,
  type TokenBrokerClientOptions,
} from '../../lib/client/index.ts';
import { startFakeBroker, tokenBody, type Answer, type FakeBroker } from './fake-broker.ts';
import { CALLER_ARN, credentials, REGION, SECRET_ACCESS_KEY } from './sigv4-fixtures.ts';

const START = Date.UTC(2025, 5, 10, 12, 0, 0);
let now = START;
const clock = () => now;
let broker: FakeBroker;

beforeAll(async () => {
  broker = await startFakeBroker(clock);
});
afterAll(async () => {
  await broker.close();
});
beforeEach(() => {
  now = START;
  broker.requests.length = 0;
  let n = 0;
  broker.answer = () => ({ status: 200, json: tokenBody(`token-${++n}`, 300, now) });
});

function client(options: Partial<TokenBrokerClientOptions> = {}): TokenBrokerClient {
  return new TokenBrokerClient({
    endpoint: broker.endpoint,
    region: REGION,
    credentials: credentials(),
    clock,
    ...options,
  });
}

async function failure(promise: Promise<unknown>): Promise<TokenBrokerError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenBrokerError);
  return err as TokenBrokerError;
}

/** The code, status and message of the error a default client raises when the broker answers `answer`. */
async function refusal(answer: Answer): Promise<[string, number | undefined, string]> {
  broker.answer = () => answer;
  const err = await failure(client().getToken({ profile: 'docusign' }));
  return [err.code, err.status, err.message];
}

describe('TokenBrokerClient signing', () => {
  it('gets a token with the right secret; the broker sees the IAM caller and the request', async () => {
    const token = await client().getToken({
      profile: 'docusign',
      subject: 'jsmith@example.com',
      minTtl: 120,
    });
    expect(token).toEqual({
      accessToken: 'token-1',
      tokenType: 'Bearer',
      expiresAt: START + 300_000,
      expiresIn: 300,
    });
    expect(broker.requests).toEqual([
      {
        body: { profile: 'docusign', subject: 'jsmith@example.com', minTtl: 120 },
        caller: { id: CALLER_ARN, kind: 'iam' },
      },
    ]);
  });

  it('is refused with 403 forbidden when signing with a wrong secret', async () => {
    const err = await failure(
      client({ credentials: credentials('wrong-secret') }).getToken({ profile: 'docusign' }),
    );
    expect(err.code).toBe('forbidden');
    expect(err.status).toBe(403);
    expect(err.message).toBe(
      'SigV4 authentication failed: signature does not match; check the secret access key and that the request was not altered',
    );
    expect(broker.requests).toEqual([{ body: '{"profile":"docusign"}', caller: undefined }]);
  });

  it('signs the session token of temporary credentials', async () => {
    const c = client({ credentials: credentials(SECRET_ACCESS_KEY, 'session-token-value') });
    await expect(c.getToken({ profile: 'docusign' })).resolves.toMatchObject({ accessToken: 'token-1' });
  });

  it('raises code credentials when the credential provider fails, without calling the broker', async () => {
    const c = client({
      credentials: async () => {
        throw new Error('Could not load credentials from any providers');
      },
    });
    const err = await failure(c.getToken({ profile: 'docusign' }));
    expect(err.code).toBe('credentials');
    expect(err.message).toBe(
      'no AWS credentials to sign the request: Could not load credentials from any providers',
    );
    expect(broker.requests).toHaveLength(0);
  });
});

describe('TokenBrokerClient cache', () => {
  it('serves the second call from memory: two calls, one request', async () => {
    const c = client();
    const first = await c.getToken({ profile: 'docusign' });
    now += 100_000;
    const second = await c.getToken({ profile: 'docusign' });
    expect(second).toEqual({ ...first, expiresIn: 200 });
    expect(broker.requests).toHaveLength(1);
  });

  it('reports a refused token by fingerprint and gets a new one; a stale report gets the held token', async () => {
    const c = client();
    const first = await c.getToken({ profile: 'docusign' });
    const fingerprint = createHash('sha256').update(first.accessToken).digest('hex').slice(0, 8);
    expect(await tokenFingerprint(first.accessToken)).toBe(fingerprint);

    const renewed = await c.getToken({ profile: 'docusign', rejected: first.accessToken });

    expect(renewed.accessToken).toBe('token-2');
    expect(broker.requests.map((request) => request.body)).toEqual([
      { profile: 'docusign' },
      { profile: 'docusign', rejected: fingerprint },
    ]);
    expect(JSON.stringify(broker.requests)).not.toContain(first.accessToken);
    // The same report again (by fingerprint): the held token no longer matches, no request.
    expect((await c.getToken({ profile: 'docusign', rejected: fingerprint })).accessToken).toBe('token-2');
    expect(broker.requests).toHaveLength(2);
  });

  it('fetches again once the remaining life falls under the default minTtl of 60 s', async () => {
    const c = client();
    await c.getToken({ profile: 'docusign' });
    now = START + 240_000; // 60 s left: still enough
    expect((await c.getToken({ profile: 'docusign' })).accessToken).toBe('token-1');
    now = START + 240_001; // just under 60 s left
    const renewed = await c.getToken({ profile: 'docusign' });
    expect(renewed).toMatchObject({ accessToken: 'token-2', expiresAt: now + 300_000, expiresIn: 300 });
    expect(broker.requests).toHaveLength(2);
  });

  it('honours a larger minTtl per call', async () => {
    const c = client();
    await c.getToken({ profile: 'docusign' });
    now += 10_000;
    expect((await c.getToken({ profile: 'docusign', minTtl: 280 })).accessToken).toBe('token-1');
    expect((await c.getToken({ profile: 'docusign', minTtl: 295 })).accessToken).toBe('token-2');
    expect(broker.requests.map((r) => r.body)).toEqual([
      { profile: 'docusign' },
      { profile: 'docusign', minTtl: 295 },
    ]);
  });

  it('keys by profile, subject and scope set, ignoring scope order and repeats', async () => {
    const c = client();
    await c.getToken({ profile: 'docusign', scope: 'signature impersonation' });
    await c.getToken({ profile: 'docusign', scope: ' impersonation  signature signature' });
    await c.getToken({ profile: 'docusign', scope: 'signature' });
    await c.getToken({ profile: 'docusign', subject: 'a@example.com', scope: 'signature' });
    await c.getToken({ profile: 'salesforce', subject: 'a@example.com', scope: 'signature' });
    expect(broker.requests.map((r) => r.body)).toEqual([
      { profile: 'docusign', scope: 'impersonation signature' },
      { profile: 'docusign', scope: 'signature' },
      { profile: 'docusign', subject: 'a@example.com', scope: 'signature' },
      { profile: 'salesforce', subject: 'a@example.com', scope: 'signature' },
    ]);
  });

  it('shares one request among concurrent calls for the same key', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    broker.answer = () => ({ status: 200, json: tokenBody('shared', 300, now), after: held });
    const c = client();
    const calls = Array.from({ length: 25 }, () => c.getToken({ profile: 'docusign', scope: 'b a' }));
    const other = c.getToken({ profile: 'docusign', scope: 'a' });
    release();
    const tokens = await Promise.all(calls);
    await other;
    expect(new Set(tokens.map((t) => t.accessToken))).toEqual(new Set(['shared']));
    expect(broker.requests).toHaveLength(2);
  });

  it('does not keep failures: the next call asks again', async () => {
    broker.answer = () => ({ status: 503, json: { error: 'upstream_unavailable', message: 'try later' } });
    const c = client();
    const err = await failure(c.getToken({ profile: 'docusign' }));
    expect([err.code, err.status, err.message]).toEqual(['upstream_unavailable', 503, 'try later']);
    broker.answer = () => ({ status: 200, json: tokenBody('after-outage', 300, now) });
    expect((await c.getToken({ profile: 'docusign' })).accessToken).toBe('after-outage');
    expect(broker.requests).toHaveLength(2);
  });

  it('shares a failure among concurrent callers', async () => {
    broker.answer = () => ({ status: 404, json: { error: 'unknown_profile', message: 'no profile "nope"' } });
    const c = client();
    const errors = await Promise.all([1, 2, 3].map(() => failure(c.getToken({ profile: 'nope' }))));
    expect(errors.map((e) => [e.code, e.status, e.message])).toEqual(
      Array(3).fill(['unknown_profile', 404, 'no profile "nope"']),
    );
    expect(broker.requests).toHaveLength(1);
  });
});

describe('TokenBrokerClient errors', () => {
  it('carries consentUrl on consent_required', async () => {
    const consentUrl = 'https://broker.example.com/consent/docusign?subject=jsmith%40example.com';
    broker.answer = () => ({
      status: 409,
      json: {
        error: 'consent_required',
        message: 'profile "docusign" needs the user\'s consent; open the consent URL once, then retry',
        consent_url: consentUrl,
      },
    });
    const err = await failure(client().getToken({ profile: 'docusign', subject: 'jsmith@example.com' }));
    expect(err).toMatchObject({ code: 'consent_required', status: 409, consentUrl });
    expect(err.message).toBe(
      'profile "docusign" needs the user\'s consent; open the consent URL once, then retry',
    );
  });

  it('carries the provider error on upstream_rejected', async () => {
    broker.answer = () => ({
      status: 502,
      json: {
        error: 'upstream_rejected',
        message:
          'the token endpoint refused the request (HTTP 400): invalid_grant (no_valid_keys_or_signatures)',
        provider_error: 'invalid_grant',
        error_description: 'no_valid_keys_or_signatures',
      },
    });
    const err = await failure(client().getToken({ profile: 'docusign' }));
    expect(err).toMatchObject({
      code: 'upstream_rejected',
      status: 502,
      upstreamError: 'invalid_grant',
      upstreamErrorDescription: 'no_valid_keys_or_signatures',
    });
    expect(err.message).toMatch(/^the token endpoint refused the request \(HTTP 400\): invalid_grant/);
  });

  it('reads a 502 whose error field is the provider error as upstream_rejected', async () => {
    broker.answer = () => ({
      status: 502,
      json: { error: 'invalid_grant', error_description: 'consent_required', message: 'refused' },
    });
    const err = await failure(client().getToken({ profile: 'docusign' }));
    expect(err).toMatchObject({
      code: 'upstream_rejected',
      upstreamError: 'invalid_grant',
      upstreamErrorDescription: 'consent_required',
      message: 'refused',
    });
  });

  it.each([
    [400, 'invalid_request'],
    [403, 'forbidden'],
    [503, 'secret_unavailable'],
    [500, 'internal'],
  ] as const)('maps HTTP %i %s to its code', async (status, code) => {
    expect(await refusal({ status, json: { error: code, message: `the ${code} message` } })).toEqual([
      code,
      status,
      `the ${code} message`,
    ]);
  });

  it("maps API Gateway's own 403 body to forbidden", async () => {
    expect(await refusal({ status: 403, json: { message: 'Forbidden' } })).toEqual([
      'forbidden',
      403,
      'the broker endpoint answered HTTP 403: Forbidden; check the IAM credentials and that the caller may invoke the API',
    ]);
  });

  it('raises invalid_response for a 200 that is not a token, without echoing the body', async () => {
    expect(
      await refusal({ status: 200, json: { accessToken: 'secret-looking-value', expires_in: 300 } }),
    ).toEqual([
      'invalid_response',
      200,
      "the broker's HTTP 200 answer has no access_token; check the endpoint points at the broker",
    ]);
  });

  it('raises invalid_response for a non-JSON error page', async () => {
    expect(await refusal({ status: 404, text: '<html>Not Found</html>' })).toEqual([
      'invalid_response',
      404,
      'the broker endpoint answered HTTP 404; check the endpoint points at the broker',
    ]);
  });

  it('raises network when nothing listens at the endpoint', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure(
      client({ endpoint: `http://127.0.0.1:${port}` }).getToken({ profile: 'docusign' }),
    );
    expect(err.code).toBe('network');
    expect(err.status).toBeUndefined();
    expect(err.message).toBe(
      `could not reach the token broker at http://127.0.0.1:${port} (ECONNREFUSED); check the endpoint and the network`,
    );
  });

  it('raises network when the broker does not answer within the deadline', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    broker.answer = () => ({ status: 200, json: tokenBody('late', 300, now), after: held });
    const err = await failure(client({ timeoutMs: 50 }).getToken({ profile: 'docusign' }));
    release();
    expect(err.code).toBe('network');
    expect(err.message).toBe(
      `could not reach the token broker at ${broker.endpoint} (timed out); check the endpoint and the network`,
    );
  });
});

describe('TokenBrokerClient options', () => {
  it('reads the region from an execute-api endpoint and keeps a stage path', async () => {
    // The host cannot be reached from a test: the fetch option records the signed request instead.
    const sent: { url: string; authorization: string | null }[] = [];
    const c = new TokenBrokerClient({
      endpoint: 'https://abc123.execute-api.eu-central-1.amazonaws.com/prod',
      credentials: credentials(),
      clock,
      fetch: async (url, init) => {
        sent.push({ url: String(url), authorization: new Headers(init?.headers).get('authorization') });
        return Response.json(tokenBody('t', 300, now));
      },
    });
    await c.getToken({ profile: 'docusign' });
    expect(sent).toEqual([
      {
        url: 'https://abc123.execute-api.eu-central-1.amazonaws.com/prod/token',
        authorization: expect.stringContaining('/20250610/eu-central-1/execute-api/aws4_request'),
      },
    ]);
  });

  it('asks for a region when the endpoint host does not name one', () => {
    expect(() => new TokenBrokerClient({ endpoint: 'https://broker.example.com' })).toThrow(
      new TypeError('pass a region: it cannot be read from the endpoint host broker.example.com'),
    );
  });

  it('rejects an empty profile and a minTtl that is not a whole number of seconds as TypeErrors', async () => {
    await expect(client().getToken({ profile: '' })).rejects.toThrow(
      new TypeError('getToken: profile must be a non-empty string'),
    );
    for (const minTtl of [-1, 1.5, Number.NaN])
      await expect(client().getToken({ profile: 'docusign', minTtl })).rejects.toThrow(
        new TypeError('getToken: minTtl must be a non-negative integer number of seconds'),
      );
  });

  it('posts to <endpoint>/token under a stage path', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify(tokenBody('t', 300, now)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      await client({ endpoint: `http://127.0.0.1:${port}/prod` }).getToken({ profile: 'docusign' });
      await client({ endpoint: `http://127.0.0.1:${port}/prod/` }).getToken({ profile: 'docusign' });
      expect(paths).toEqual(['/prod/token', '/prod/token']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('TokenBrokerClient and Retry-After', () => {
  it('does not ask the broker again before its Retry-After has passed, then asks once', async () => {
    broker.answer = () => ({
      status: 503,
      json: { error: 'upstream_unavailable', message: 'the token endpoint asks to wait', retry_after: 30 },
      headers: { 'Retry-After': '30' },
    });
    const c = client();
    const first = await failure(c.getToken({ profile: 'docusign' }));
    expect([first.code, first.status, first.retryAfter, first.message]).toEqual([
      'upstream_unavailable',
      503,
      30,
      'the token endpoint asks to wait',
    ]);
    now += 10_000;
    const second = await failure(c.getToken({ profile: 'docusign' }));
    expect([second.code, second.status, second.retryAfter, second.message]).toEqual([
      'upstream_unavailable',
      503,
      20,
      'the broker asked to wait before asking again; retry after 20 s',
    ]);
    expect(broker.requests).toHaveLength(1);
    // Another profile is not held back.
    broker.answer = () => ({ status: 200, json: tokenBody('token-other', 300, now) });
    expect((await c.getToken({ profile: 'salesforce' })).accessToken).toBe('token-other');
    now += 20_000;
    expect((await c.getToken({ profile: 'docusign' })).accessToken).toBe('token-other');
    expect(broker.requests).toHaveLength(3);
  });

  it('caps an absurd Retry-After at one hour and exposes the provider fields of a 200', async () => {
    broker.answer = () => ({
      status: 503,
      json: { error: 'upstream_unavailable' },
      headers: { 'Retry-After': '999999' },
    });
    const c = client();
    expect((await failure(c.getToken({ profile: 'docusign' }))).retryAfter).toBe(3600);
    now += 3600_000;
    broker.answer = () => ({
      status: 200,
      json: {
        ...tokenBody('token-sf', 300, now),
        instance_url: 'https://acme.my.salesforce.com',
        issued_at: '1',
      },
    });
    const token = await c.getToken({ profile: 'docusign' });
    expect(token.fields).toEqual({ instance_url: 'https://acme.my.salesforce.com', issued_at: '1' });
    expect(broker.requests).toHaveLength(2);
  });
});
