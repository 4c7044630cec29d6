/**
 * Issue 26, item 3, through the POST /token handler and the local server: a token answer
 * with no usable life is refused (never cached, never handed out), a `minTtl` the
 * provider's tokens cannot meet costs at most one upstream request per caller request,
 * and a profile whose key material cannot be used answers 500 `key_unavailable` naming
 * the code and nothing more.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { MIN_TOKEN_LIFETIME_S } from '../../lib/exchange/response.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { apiEvent, lambdaContext } from './events.ts';
import { EXAMPLES } from './harness.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const COSTLY = fileURLToPath(new URL('../fixtures/keystores/lt-jceks-costly.jceks', import.meta.url));
const WRONG_PASSWORD = 'not-the-password-7f3a';

const lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  error: (message, fields) => lines.push({ level: 'error', message, fields }),
};

/** What the fault server answers to every token request, with a new token each time. */
let expiresIn: unknown = 3600;
let issued = 0;
const tokenAnswer = (_req: unknown, res: ServerResponse) => {
  issued += 1;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: expiresIn }));
};

const demoKey = (overrides: string) => `
    issuer: demo-client
    subject: demo-user@example.com
    audience: token-broker-demo
    callers: [${ALICE}, local]${overrides}`;

let upstream: FaultServer;
let config: BrokerConfig;
let broker: TokenBroker;
let handler: ReturnType<typeof createTokenHandler>;
let server: RunningServer;
const env = { WRONG: WRONG_PASSWORD, COSTLY_PASSWORD: 'changeit' };

beforeAll(async () => {
  upstream = await startFaultServer([tokenAnswer]);
  config = parseConfig(
    `
profiles:
  life:${demoKey(`
    tokenUri: ${upstream.url}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo`)}
  wrongpassword:${demoKey(`
    tokenUri: ${upstream.url}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: env:WRONG
    certAlias: demo`)}
  noalias:${demoKey(`
    tokenUri: ${upstream.url}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: nosuch`)}
  costly:${demoKey(`
    tokenUri: ${upstream.url}
    certStore: file:${COSTLY}
    certStoreType: jceks
    certPassword: env:COSTLY_PASSWORD
    certAlias: signer`)}
`,
    join(EXAMPLES, 'life.yaml'),
  );
  broker = createBroker({
    config,
    secrets: createSecretResolver({ env, cwd: EXAMPLES }),
    logger,
    exchange: { sleep: async () => undefined },
  });
  handler = createTokenHandler({ broker, logger });
  server = await startServer({ config, env, logger, port: 0 });
});
afterAll(async () => {
  await server?.close();
  await upstream?.close();
});
beforeEach(() => {
  lines.length = 0;
  expiresIn = 3600;
  upstream.answer(tokenAnswer);
  broker.invalidate({ profile: 'life' });
});

const viaHandler = async (body: Record<string, unknown>) => {
  const result = await handler(apiEvent({ body: JSON.stringify(body), userArn: ALICE }), lambdaContext());
  return { status: result.statusCode, json: JSON.parse(result.body) as Record<string, unknown> };
};
const viaServer = async (body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

/** `n` requests one after the other. */
async function sequential<T>(n: number, ask: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += 1) out.push(await ask());
  return out;
}

describe('a token answer with no usable life', () => {
  it(`names the floor: ${MIN_TOKEN_LIFETIME_S} s`, () => {
    expect(MIN_TOKEN_LIFETIME_S).toBe(10);
  });

  it.each([0, '0', 9, '9.9'])(
    'refuses expires_in %j: 20 requests, 20 upstream calls, 20 answers 502, no token handed out',
    async (value) => {
      expiresIn = value;
      const before = upstream.count();
      const answers = await sequential(20, () => viaHandler({ profile: 'life' }));
      expect(upstream.count() - before).toBe(20);
      const whole = Math.floor(Number(value));
      for (const answer of answers) {
        expect(answer.status).toBe(502);
        expect(answer.json).toEqual({
          error: 'upstream_rejected',
          message: `the token endpoint answered an expires_in of ${whole} s, below the 10 s a token must live to be of use (HTTP 200, application/json); check the profile's tokenUri`,
          status: 200,
        });
      }
      expect(lines.filter((l) => l.level === 'error').map((l) => l.fields?.['code'])).toEqual(
        Array(20).fill('ERR_UPSTREAM_INVALID_RESPONSE'),
      );
    },
  );

  it('accepts expires_in 10, and the next request is served from the cache', async () => {
    expiresIn = 10;
    const before = upstream.count();
    const [first, second] = await sequential(2, () => viaHandler({ profile: 'life' }));
    expect(first).toMatchObject({
      status: 200,
      json: { access_token: `tok-${issued}`, token_type: 'Bearer' },
    });
    expect(second!.json['access_token']).toBe(first!.json['access_token']);
    expect(upstream.count() - before).toBe(1);
  });

  it('refuses expires_in 0 through the local server too: 20 requests, 20 upstream calls', async () => {
    expiresIn = 0;
    const before = upstream.count();
    const answers = await sequential(20, () => viaServer({ profile: 'life' }));
    expect(upstream.count() - before).toBe(20);
    expect(new Set(answers.map((a) => `${a.status} ${String(a.json['error'])}`))).toEqual(
      new Set(['502 upstream_rejected']),
    );
  });
});

describe('a minTtl the provider cannot meet (tokens of 3600 s, minTtl 3600)', () => {
  it('20 requests in a row: 1 upstream call, every answer the freshest token', async () => {
    const before = upstream.count();
    const answers = await sequential(20, () => viaHandler({ profile: 'life', minTtl: 3600 }));
    expect(upstream.count() - before).toBe(1);
    expect(new Set(answers.map((a) => a.json['access_token']))).toEqual(new Set([`tok-${issued}`]));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.json['expires_in']).toBeGreaterThanOrEqual(3598);
    }
  });

  it('20 concurrent requests: 1 upstream call', async () => {
    const before = upstream.count();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => viaHandler({ profile: 'life', minTtl: 3600 })),
    );
    expect(upstream.count() - before).toBe(1);
    expect(answers.every((a) => a.status === 200 && a.json['access_token'] === `tok-${issued}`)).toBe(true);
  });

  it('20 requests to the local server: 1 upstream call', async () => {
    const before = upstream.count();
    const answers = await sequential(20, () => viaServer({ profile: 'life', minTtl: 3600 }));
    expect(upstream.count() - before).toBe(1);
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });

  it('tokens of 3000 s against minTtl 3600: 20 requests, 1 upstream call (half-life rule)', async () => {
    expiresIn = 3000;
    const before = upstream.count();
    const answers = await sequential(20, () => viaHandler({ profile: 'life', minTtl: 3600 }));
    expect(upstream.count() - before).toBe(1);
    expect(answers.every((a) => a.status === 200 && (a.json['expires_in'] as number) >= 2998)).toBe(true);
  });

  it('a cached token short of a larger minTtl costs exactly one upstream call for that request', async () => {
    const before = upstream.count();
    await viaHandler({ profile: 'life', minTtl: 60 });
    expiresIn = 3600;
    // 3600 s tokens meet minTtl 3000 only while fresh: the held one still does.
    await viaHandler({ profile: 'life', minTtl: 3000 });
    expect(upstream.count() - before).toBe(1);
  });
});

describe('a profile whose key material cannot be used', () => {
  const generic =
    "the profile's key material cannot be used (the code says why); the broker's operator can run token-broker check <profile>";

  it.each([
    ['wrongpassword', 'ERR_KEYSTORE_PASSWORD'],
    ['noalias', 'ERR_ALIAS_NOT_FOUND'],
    ['costly', 'ERR_KEYSTORE_TOO_COSTLY'],
  ])('%s answers 500 key_unavailable with code %s and nothing more', async (profile, code) => {
    const before = upstream.count();
    for (const ask of [viaHandler, viaServer]) {
      lines.length = 0;
      const answer = await ask({ profile });
      expect(answer).toEqual({ status: 500, json: { error: 'key_unavailable', message: generic, code } });
      const text = JSON.stringify(answer.json);
      for (const detail of ['demo-keystore', 'lt-jceks', WRONG_PASSWORD, 'changeit', 'nosuch', 'signer'])
        expect(text).not.toContain(detail);
      expect(lines.find((l) => l.level === 'error')?.fields).toMatchObject({ code, status: 500 });
    }
    expect(upstream.count() - before).toBe(0);
  });
});
