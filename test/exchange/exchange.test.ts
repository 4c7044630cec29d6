import { afterEach, describe, expect, it } from 'vitest';
import { exchangeToken, type ExchangeInput } from '../../lib/exchange/index.ts';
import { ConsentRequired, UpstreamError, UpstreamRejected } from '../../lib/errors.ts';
import type { Profile } from '../../lib/config/types.ts';
import { hang, json, raw, startFaultServer, tokenAnswer, type FaultServer } from '../support/fault-server.ts';
import { tokenProfile } from '../support/token-profile.ts';

let server: FaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function input(
  url: string,
  extra: Partial<Omit<ExchangeInput, 'profile'>> & { profile?: Partial<Profile> } = {},
) {
  const { profile, ...rest } = extra;
  const waits: number[] = [];
  let n = 0;
  const value: ExchangeInput = {
    profile: tokenProfile({ tokenUri: { method: 'POST', url }, ...profile }),
    subject: 'alice@example.com',
    scopes: ['read'],
    sign: async (offset) => `assertion-${++n}-${offset}`,
    sleep: async (ms) => void waits.push(ms),
    random: () => 0.5,
    attemptTimeoutMs: 3_000,
    deadlineMs: 5_000,
    ...rest,
  };
  return { value, waits };
}

describe('exchangeToken', () => {
  it('sends a form-encoded jwt-bearer request with Accept and the profile headers', async () => {
    server = await startFaultServer([tokenAnswer('tok-a', { scope: 'read' })]);
    const { value } = input(server.url, { profile: { headers: { SecurityToken: 'st-1' } } });
    const result = await exchangeToken(value);
    expect(result.token).toEqual({
      accessToken: 'tok-a',
      tokenType: 'Bearer',
      expiresIn: 3600,
      scope: 'read',
      fields: {},
    });
    expect(server.methods).toEqual(['POST']);
    expect(server.headers[0]!['accept']).toBe('application/json');
    expect(server.headers[0]!['securitytoken']).toBe('st-1');
    expect(server.headers[0]!['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(new URLSearchParams(server.bodies[0]))).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: 'assertion-1-0',
      scope: 'read',
    });
  });

  it('sends client_credentials with a client assertion in client-assertion mode', async () => {
    server = await startFaultServer([tokenAnswer()]);
    const { value } = input(server.url, { profile: { grant: 'client-assertion', scopeIn: 'assertion' } });
    await exchangeToken(value);
    expect(Object.fromEntries(new URLSearchParams(server.bodies[0]))).toEqual({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: 'assertion-1-0',
      scope: 'read',
    });
  });

  it('puts the parameters in the query string for a GET endpoint', async () => {
    server = await startFaultServer([tokenAnswer()]);
    let url = '';
    const { value } = input(server.url, {
      profile: { tokenUri: { method: 'GET', url: server.url } },
      fetch: async (target, init) => {
        url = String(target);
        return fetch(target, init);
      },
    });
    await exchangeToken(value);
    expect(server.methods).toEqual(['GET']);
    expect(new URL(url).searchParams.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(server.bodies[0]).toBe('');
  });

  it('retries 503 twice and serves the third answer, each with a fresh assertion', async () => {
    server = await startFaultServer([json(503, {}), json(503, {}), tokenAnswer('tok-3')]);
    const { value, waits } = input(server.url);
    const result = await exchangeToken(value);
    expect(result.token.accessToken).toBe('tok-3');
    expect(result.attempts).toBe(3);
    expect(server.count()).toBe(3);
    expect(server.bodies.map((b) => new URLSearchParams(b).get('assertion'))).toEqual([
      'assertion-1-0',
      'assertion-2-0',
      'assertion-3-0',
    ]);
    expect(waits).toEqual([150, 300]);
  });

  it('gives up after 3 attempts with ERR_UPSTREAM_UNAVAILABLE naming the status', async () => {
    server = await startFaultServer([json(503, { error: 'temporarily_unavailable' })]);
    const err = await exchangeToken(input(server.url).value).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.message).toBe(`the token endpoint ${server.url} answered HTTP 503 (3 attempts); retry later`);
    expect(server.count()).toBe(3);
  });

  it('waits what Retry-After asks on 429 when it fits before the deadline, beyond the 5 s backoff cap', async () => {
    server = await startFaultServer([
      json(429, {}, { 'retry-after': '2' }),
      json(429, {}, { 'retry-after': '30' }),
      tokenAnswer(),
    ]);
    const { value, waits } = input(server.url, { deadlineMs: 60_000 });
    await exchangeToken(value);
    expect(waits).toEqual([2000, 30_000]);
    expect(server.count()).toBe(3);
  });

  it('honours a Retry-After HTTP date', async () => {
    const now = Date.now();
    server = await startFaultServer([
      json(429, {}, { 'retry-after': new Date(now + 3000).toUTCString() }),
      tokenAnswer(),
    ]);
    const { value, waits } = input(server.url, { clock: () => now });
    await exchangeToken(value);
    expect(waits[0]).toBeGreaterThan(1000);
    expect(waits[0]).toBeLessThanOrEqual(3000);
  });

  it('stops retrying when the wait would pass the deadline', async () => {
    server = await startFaultServer([json(429, {}, { 'retry-after': '4' })]);
    const { value, waits } = input(server.url, { deadlineMs: 1000 });
    const err = await exchangeToken(value).catch((e) => e);
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.message).toBe(
      `the token endpoint ${server.url} answered HTTP 429 asking to retry after 4 s, beyond the time left for this request (1 attempt); retry after 4 s`,
    );
    expect(err.details).toEqual({ status: 429, retry_after: 4 });
    expect(waits).toEqual([]);
    expect(server.count()).toBe(1);
  });

  it('times out a hanging endpoint per attempt and reports ERR_UPSTREAM_TIMEOUT', async () => {
    server = await startFaultServer([hang]);
    const { value } = input(server.url, { attemptTimeoutMs: 100 });
    const err = await exchangeToken(value).catch((e) => e);
    expect(err).toMatchObject({
      code: 'ERR_UPSTREAM_TIMEOUT',
      message: `the token endpoint ${server.url} did not answer within 100 ms (3 attempts); check that it is reachable`,
    });
    expect(server.count()).toBe(3);
  });

  it('reports a refused connection as ERR_UPSTREAM_UNAVAILABLE after retries', async () => {
    server = await startFaultServer([tokenAnswer()]);
    const url = server.url;
    await server.close();
    server = undefined;
    const err = await exchangeToken(input(url).value).catch((e) => e);
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.message).toBe(
      `could not reach the token endpoint ${url} (ECONNREFUSED) (3 attempts); check the URL and the network`,
    );
  });

  it('never retries a 400 and maps it to UpstreamRejected', async () => {
    server = await startFaultServer([json(400, { error: 'invalid_grant', error_description: 'bad sub' })]);
    const err = await exchangeToken(input(server.url).value).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamRejected);
    expect(err).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', status: 400, error: 'invalid_grant' });
    expect(err.message).toBe('the token endpoint refused the request (HTTP 400): invalid_grant (bad sub)');
    expect(server.count()).toBe(1);
  });

  it('maps a consent error to ConsentRequired with the consent URL', async () => {
    server = await startFaultServer([json(400, { error: 'consent_required' })]);
    const { value } = input(server.url, { consentUrl: () => 'https://broker.example.com/consent/demo' });
    const err = await exchangeToken(value).catch((e) => e);
    expect(err).toBeInstanceOf(ConsentRequired);
    expect(err).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      consentUrl: 'https://broker.example.com/consent/demo',
      message:
        'profile "demo" needs the user\'s consent for subject "alice@example.com"; open the consent URL once, then retry',
    });
  });

  it('matches consent errors by description when the preset says so', async () => {
    server = await startFaultServer([
      json(400, { error: 'invalid_grant', error_description: "user hasn't approved this consumer" }),
    ]);
    const { value } = input(server.url, {
      profile: { consentErrors: [{ error: 'invalid_grant', descriptionIncludes: "HASN'T APPROVED" }] },
    });
    await expect(exchangeToken(value)).rejects.toBeInstanceOf(ConsentRequired);
  });

  it('re-signs once on the provider clock when it rejects a skewed assertion', async () => {
    const providerNow = Date.now();
    server = await startFaultServer([
      json(
        400,
        { error: 'invalid_grant', error_description: 'assertion not yet valid (nbf)' },
        {
          date: new Date(providerNow).toUTCString(),
        },
      ),
      tokenAnswer('tok-skew'),
    ]);
    const { value } = input(server.url, { clock: () => providerNow + 10 * 60_000 });
    const result = await exchangeToken(value);
    expect(result.token.accessToken).toBe('tok-skew');
    expect(result.clockOffset).toBeGreaterThan(-601_000);
    expect(result.clockOffset).toBeLessThan(-599_000);
    expect(new URLSearchParams(server.bodies[1]).get('assertion')).toBe(`assertion-2-${result.clockOffset}`);
  });

  it('does not re-sign when the provider clock agrees with ours', async () => {
    server = await startFaultServer([
      json(400, { error: 'invalid_grant', error_description: 'token expired' }),
    ]);
    const err = await exchangeToken(input(server.url).value).catch((e) => e);
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(server.count()).toBe(1);
  });

  it('refuses a redirect without following it', async () => {
    server = await startFaultServer([raw(302, 'text/html', '', { location: 'https://evil.example.com/' })]);
    const err = await exchangeToken(input(server.url).value).catch((e) => e);
    expect(err).toMatchObject({
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      message:
        "the token endpoint answered a redirect, which is not followed (HTTP 302, text/html); check the profile's tokenUri",
    });
    expect(server.count()).toBe(1);
  });
});

describe('exchangeToken protocol fidelity', () => {
  it('sends scope in the order given and the profile params after the RFC 7523 parameters', async () => {
    server = await startFaultServer([tokenAnswer()]);
    const { value } = input(server.url, {
      scopes: ['write', 'read'],
      profile: { params: { client_id: 'client-1', resource: 'https://api.example.com' } },
    });
    await exchangeToken(value);
    expect(server.bodies[0]).toBe(
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=assertion-1-0&scope=write+read&client_id=client-1&resource=https%3A%2F%2Fapi.example.com',
    );
  });

  it('never lets a param replace grant_type or the assertion', async () => {
    server = await startFaultServer([tokenAnswer()]);
    const { value } = input(server.url, { profile: { params: { grant_type: 'password', assertion: 'x' } } });
    await exchangeToken(value);
    const sent = new URLSearchParams(server.bodies[0]);
    expect(sent.getAll('grant_type')).toEqual(['urn:ietf:params:oauth:grant-type:jwt-bearer']);
    expect(sent.getAll('assertion')).toEqual(['assertion-1-0']);
  });

  it('keeps the allowlisted response fields only: strings, numbers, booleans, never refresh_token', async () => {
    server = await startFaultServer([
      tokenAnswer('tok-f', {
        instance_url: 'https://acme.my.salesforce.com',
        issued_at: 1700000000000,
        verified: true,
        nested: { a: 1 },
        huge: 'x'.repeat(9000),
        refresh_token: 'rt-1',
        other: 'not listed',
      }),
    ]);
    const { value } = input(server.url, {
      profile: {
        responseFields: ['instance_url', 'issued_at', 'verified', 'nested', 'huge', 'refresh_token'],
      },
    });
    const { token } = await exchangeToken(value);
    expect(token.fields).toEqual({
      instance_url: 'https://acme.my.salesforce.com',
      issued_at: 1700000000000,
      verified: true,
    });
  });

  it('remembers the skew per host: 3 exchanges after one skew cost 4 requests, not 6', async () => {
    const { SkewMemory } = await import('../../lib/exchange/index.ts');
    const ours = Date.now();
    const skewed = json(
      400,
      { error: 'invalid_grant', error_description: 'assertion expired' },
      { date: new Date(ours + 5 * 60_000).toUTCString() },
    );
    server = await startFaultServer([skewed, tokenAnswer()]);
    const memory = new SkewMemory(() => ours);
    const offsets: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { value } = input(server.url, { clock: () => ours, skew: memory });
      offsets.push((await exchangeToken(value)).clockOffset);
    }
    expect(server.count()).toBe(4);
    expect(offsets.every((o) => o > 299_000 && o <= 300_000)).toBe(true);
    expect(new URLSearchParams(server.bodies[3]).get('assertion')).toBe(`assertion-1-${offsets[2]}`);
  });

  it('a consent answer for a profile without a consent step names the keys to set', async () => {
    server = await startFaultServer([json(400, { error: 'interaction_required' })]);
    const { value } = input(server.url, { profile: { consentErrors: [{ error: 'interaction_required' }] } });
    const err = await exchangeToken(value).catch((e) => e);
    expect(err).toBeInstanceOf(ConsentRequired);
    expect(err.message).toBe(
      'profile "demo" needs the user\'s consent for subject "alice@example.com" but has no consent step; set authUri and redirectUri (the provider\'s consent page, the broker\'s /consent/callback URL), then open the consent URL once',
    );
    expect(server.count()).toBe(1);
  });
});
