/**
 * `serve` runs `POST /token` without an API Gateway event (createDirectTokenRoute). Every
 * request here goes to two servers over one broker: one with the direct route, one
 * running the Lambda handler on an event (`directToken: false`). Status, headers, body,
 * the log lines (level, message, every field in order) and the metrics flushes must be
 * the same, for hits, misses, refusals of every kind and upstream failures.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import type { FlushableMetrics, LogFields, Logger } from '../../lib/types.ts';
import { closedPort, startHarness, type Harness } from '../functions/harness.ts';

interface Recorder {
  readonly lines: string[];
  flushes: number;
  readonly logger: Logger;
  readonly metrics: FlushableMetrics;
}

/** Lines as JSON, without the request's id and time (they differ per request by design). */
function recorder(): Recorder {
  const r: Recorder = {
    lines: [],
    flushes: 0,
    logger: undefined as unknown as Logger,
    metrics: undefined as unknown as FlushableMetrics,
  };
  const write =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      const { requestId: _r, ms: _m, ...kept } = fields ?? {};
      r.lines.push(JSON.stringify({ level, message, ...kept }));
    };
  Object.assign(r, {
    logger: { debug: () => undefined, info: write('info'), warn: write('warn'), error: write('error') },
    metrics: { count: () => undefined, timing: () => undefined, flush: () => (r.flushes += 1) },
  });
  return r;
}

let harness: Harness;
const brokerLines = recorder();
const direct = recorder();
const evented = recorder();
let directServer: RunningServer;
let eventServer: RunningServer;

beforeAll(async () => {
  const down = `http://127.0.0.1:${await closedPort()}/token`;
  harness = await startHarness({
    logger: brokerLines.logger,
    extraConfig: `
  local-down:
    issuer: demo-client
    subject: demo-user@example.com
    tokenUri: ${down}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo
    audience: token-broker-demo
    callers: [local]
`,
  });
  const common = { config: harness.config, broker: harness.broker, port: 0 };
  directServer = await startServer({ ...common, logger: direct.logger, metrics: direct.metrics });
  eventServer = await startServer({
    ...common,
    logger: evented.logger,
    metrics: evented.metrics,
    directToken: false,
  });
});
afterAll(async () => {
  await directServer?.close();
  await eventServer?.close();
  await harness?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: (readonly [string, string])[];
  readonly body: string;
  /** The lines the server and the broker wrote for the request. */
  readonly lines: string[];
  readonly flushes: number;
}

async function ask(
  server: RunningServer,
  own: Recorder,
  path: string,
  init: { headers?: Record<string, string>; body?: string | Buffer },
): Promise<Answer> {
  own.lines.length = 0;
  brokerLines.lines.length = 0;
  const before = own.flushes;
  const response = await post(`${server.url}${path}`, init.headers ?? {}, init.body);
  const body = response.body
    // The same cached token answers both; only the seconds left may tick between the two.
    .replace(/"expires_in":\d+/, '"expires_in":N');
  // Raw, in the order sent: a header's place is part of the answer too.
  const headers = response.headers.filter(([name]) => name.toLowerCase() !== 'date');
  return {
    status: response.status,
    headers,
    body,
    lines: [...brokerLines.lines, ...own.lines],
    flushes: own.flushes - before,
  };
}

/** One POST with node:http, so the response's raw header lines (names, order) can be compared. */
function post(
  url: string,
  headers: Record<string, string>,
  body: string | Buffer | undefined,
): Promise<{ status: number; headers: (readonly [string, string])[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        const pairs: (readonly [string, string])[] = [];
        for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
        resolve({
          status: res.statusCode ?? 0,
          headers: pairs,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };

/** [name, path, headers, body] of each request compared. */
const CASES: [string, string, Record<string, string>, string | Buffer][] = [
  ['a hit', '/token', JSON_TYPE, '{"profile":"billing"}'],
  ['a hit for an allowed subject', '/token', JSON_TYPE, '{"profile":"billing","subject":"ops@example.com"}'],
  ['a hit with a query string', '/token?x=1', JSON_TYPE, '{"profile":"billing"}'],
  [
    'a hit with a media type parameter',
    '/token',
    { 'content-type': 'application/json; charset=utf-8' },
    '{"profile":"billing"}',
  ],
  [
    'a subject outside the profile',
    '/token',
    JSON_TYPE,
    '{"profile":"billing","subject":"eve@evil.example"}',
  ],
  ['an unknown profile', '/token', JSON_TYPE, '{"profile":"nope"}'],
  ['a profile the caller may not use', '/token', JSON_TYPE, '{"profile":"consent"}'],
  ['an unreachable provider', '/token', JSON_TYPE, '{"profile":"local-down"}'],
  ['no content type', '/token', {}, '{"profile":"billing"}'],
  ['text/plain', '/token', { 'content-type': 'text/plain' }, '{"profile":"billing"}'],
  ['an empty body', '/token', JSON_TYPE, ''],
  ['blank', '/token', JSON_TYPE, '  \n '],
  ['not JSON', '/token', JSON_TYPE, '{"profile":'],
  ['an array', '/token', JSON_TYPE, '[1]'],
  ['an unknown field', '/token', JSON_TYPE, '{"profile":"billing","audience":"x"}'],
  ['minTtl too large', '/token', JSON_TYPE, '{"profile":"billing","minTtl":99999}'],
  ['a malformed rejected fingerprint', '/token', JSON_TYPE, '{"profile":"billing","rejected":"XYZ"}'],
  ['a malformed DPoP proof', '/token', { ...JSON_TYPE, dpop: 'not-a-jwt' }, '{"profile":"billing"}'],
  ['invalid UTF-8', '/token', JSON_TYPE, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['a body over the 16 KiB limit', '/token', JSON_TYPE, `{"profile":"${'a'.repeat(17 * 1024)}"}`],
];

describe('serve: POST /token without an API Gateway event', () => {
  it('answers, logs and flushes exactly as the token handler on an event', async () => {
    // Warm the cache: the first answer of each subject is a miss on whichever server asks first.
    for (const body of ['{"profile":"billing"}', '{"profile":"billing","subject":"ops@example.com"}'])
      expect((await ask(eventServer, evented, '/token', { headers: JSON_TYPE, body })).status).toBe(200);
    // Twice: the second time the direct route knows each valid body already.
    for (const [name, path, headers, body] of [...CASES, ...CASES]) {
      const viaEvent = await ask(eventServer, evented, path, { headers, body });
      const viaDirect = await ask(directServer, direct, path, { headers, body });
      expect(viaDirect, name).toEqual(viaEvent);
      // Each request writes something and flushes once.
      expect(viaEvent.lines.length, name).toBeGreaterThan(0);
      expect(viaEvent.flushes, name).toBe(1);
    }
  });

  it('covers a success and every refusal the comparison claims', async () => {
    const statuses = new Map<string, number>();
    for (const [name, path, headers, body] of CASES)
      statuses.set(name, (await ask(directServer, direct, path, { headers, body })).status);
    expect(statuses.get('a hit')).toBe(200);
    expect(statuses.get('a profile the caller may not use')).toBe(403);
    expect(statuses.get('no content type')).toBe(415);
    expect(statuses.get('a body over the 16 KiB limit')).toBe(413);
    expect(statuses.get('not JSON')).toBe(400);
    expect(statuses.get('an unreachable provider')).toBeGreaterThanOrEqual(500);
  });

  it('answers the token request of a caller the server could not identify like the handler does', async () => {
    const config = { ...harness.config, server: { ...harness.config.server, apiKeys: { 'sha256:00': 'k' } } };
    const a = await startServer({
      config,
      broker: harness.broker,
      port: 0,
      logger: evented.logger,
      metrics: evented.metrics,
      directToken: false,
    });
    const b = await startServer({
      config,
      broker: harness.broker,
      port: 0,
      logger: direct.logger,
      metrics: direct.metrics,
    });
    try {
      // The caller is checked before the body: a stranger learns nothing about the body's rules.
      for (const headers of [{ ...JSON_TYPE, 'x-api-key': 'wrong' }, { 'x-api-key': 'wrong' }]) {
        const init = { headers, body: '{"profile":"billing"}' };
        const viaEvent = await ask(a, evented, '/token', init);
        expect(viaEvent.status).toBe(403);
        expect(await ask(b, direct, '/token', init)).toEqual(viaEvent);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
