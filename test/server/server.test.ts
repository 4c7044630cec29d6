import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../lib/server/caller.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { startHarness, type Harness } from '../functions/harness.ts';

const KEY = 'tb_test_4f1d0c2a9b8e7d6c5b4a';

let open: Harness;
let keyed: Harness;
let server: RunningServer;
let keyedServer: RunningServer;

beforeAll(async () => {
  open = await startHarness();
  server = await startServer({ config: open.config, broker: open.broker, port: 0 });
  keyed = await startHarness({
    extraConfig: `server:\n  apiKeys:\n    "${hashApiKey(KEY)}": team-billing\n`,
  });
  keyedServer = await startServer({ config: keyed.config, broker: keyed.broker, port: 0 });
});
afterAll(async () => {
  await server?.close();
  await keyedServer?.close();
  await open?.close();
  await keyed?.close();
});

const post = (base: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('local server without API keys (loopback caller "local")', () => {
  it('serves a token, then the same token from cache without a second upstream request', async () => {
    open.authorization.resetRequests();
    const first = await post(server.url, { profile: 'billing' });
    expect(first.status).toBe(200);
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('pragma')).toBe('no-cache');
    const a = (await first.json()) as { access_token: string; token_type: string };
    expect(a.token_type).toBe('Bearer');
    expect(open.authorization.introspect(a.access_token)?.clientId).toBe('demo-client');
    const second = await post(server.url, { profile: 'billing' });
    expect(second.status).toBe(200);
    expect(((await second.json()) as { access_token: string }).access_token).toBe(a.access_token);
    expect(open.authorization.requestCount()).toBe(1);
  });

  it('answers 200 concurrent requests for one token with one upstream request', async () => {
    open.authorization.resetRequests();
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => post(server.url, { profile: 'billing', subject: 'ops@example.com' })),
    );
    const tokens = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { access_token: string }).access_token),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(new Set(tokens).size).toBe(1);
    expect(open.authorization.requestCount()).toBe(1);
  });

  it('serves GET /health and answers unknown routes with 404 JSON', async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', profiles: ['billing', 'consent', 'down'] });
    const missing = await fetch(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toBe('not_found');
  });

  it('answers 413 for an oversized body and 400 for malformed JSON through the handler', async () => {
    const big = await post(server.url, { profile: 'billing', subject: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { message: string }).message).toBe(
      'the body is larger than 16384 bytes; send only {profile, subject, scope, minTtl}',
    );
    const bad = await post(server.url, '{"profile":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: 'invalid_request',
      message: 'the body is not valid JSON; send a JSON object such as {"profile":"NAME"}',
    });
  });

  it('applies the profiles\' callers policy to "local"', async () => {
    const res = await post(server.url, { profile: 'consent' });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toContain('"local"');
  });
});

describe('local server with API keys', () => {
  it('identifies the caller by a Bearer or x-api-key key compared by its SHA-256', async () => {
    const bearer = await post(keyedServer.url, { profile: 'billing' }, { authorization: `Bearer ${KEY}` });
    expect(bearer.status).toBe(200);
    const header = await post(keyedServer.url, { profile: 'billing' }, { 'x-api-key': KEY });
    expect(header.status).toBe(200);
  });

  it('refuses a wrong or missing key with 403, even on loopback', async () => {
    for (const headers of [{ authorization: `Bearer ${KEY}x` }, {}] as Record<string, string>[]) {
      const res = await post(keyedServer.url, { profile: 'billing' }, headers);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: 'forbidden',
        message:
          'the request carries no caller identity; sign it with IAM credentials (SigV4), or send an API key to the local server',
      });
    }
  });
});
