/**
 * One health API: `GET /health?deep=1` on `serve` (real HTTP on 127.0.0.1) and on the
 * health function's own entry point (functions/health.ts `handler`, built from the
 * environment as Lambda builds it) give the same status and checks, for a profile whose
 * key opens and one whose password is wrong; deployed, only the `healthDeepCallers` may ask.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HttpHandler } from '../../lib/http/stack.ts';
import { loadConfig } from '../../lib/config/index.ts';
import { DeepHealthCheck } from '../../lib/health/deep.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import type { OpenKeystore } from '../../lib/keystore/types.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

const OPS = 'arn:aws:iam::123456789012:role/ops';
const OPS_SESSION = 'arn:aws:sts::123456789012:assumed-role/ops/alice';
const APP_SESSION = 'arn:aws:sts::123456789012:assumed-role/app/batch';
const EXPECTED = {
  status: 'degraded',
  profiles: ['good', 'wrong'],
  checks: { good: { ok: true }, wrong: { ok: false, code: 'ERR_KEYSTORE_PASSWORD' } },
};

// lib/runtime reads the environment once, when first imported (lib/server imports it):
// set before every import. The file is written in beforeAll, read on the first invocation.
const { dir, saved } = await vi.hoisted(async () => {
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const folder = path.join(tmpdir(), `tb-health-deep-${process.pid}-${Date.now()}`);
  const before = {
    config: process.env['TOKEN_BROKER_CONFIG'],
    callers: process.env['TOKEN_BROKER_HEALTH_DEEP_CALLERS'],
  };
  process.env['TOKEN_BROKER_CONFIG'] = path.join(folder, 'token-broker.yaml');
  process.env['TOKEN_BROKER_HEALTH_DEEP_CALLERS'] =
    'arn:aws:iam::123456789012:role/sre-*, arn:aws:iam::123456789012:role/ops';
  return { dir: folder, saved: before };
});
const configFile = join(dir, 'token-broker.yaml');
let server: RunningServer;
let lambdaHandler: HttpHandler;

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'good.password'), 'changeit\n');
  writeFileSync(join(dir, 'wrong.password'), 'not-the-password\n');
  const profile = (name: string) => `  ${name}:
    issuer: app
    subject: alice@example.com
    tokenUri: http://127.0.0.1:9/token
    certStore: file:${join(KEYSTORE_FIXTURES, 'java-rsa2048.jks')}
    certStoreType: jks
    certPassword: file:${name}.password
    callers: [local, "${OPS}"]
`;
  writeFileSync(configFile, `profiles:\n${profile('good')}${profile('wrong')}`);
  server = await startServer({ config: await loadConfig({ path: configFile, env: {}, cwd: dir }), port: 0 });
  lambdaHandler = (await import('../../functions/health.ts')).handler;
});
afterAll(async () => {
  await server?.close();
  for (const [name, value] of [
    ['TOKEN_BROKER_CONFIG', saved.config],
    ['TOKEN_BROKER_HEALTH_DEEP_CALLERS', saved.callers],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  rmSync(dir, { recursive: true, force: true });
});

const deepEvent = (userArn: string) => ({
  ...apiEvent({ routeKey: 'GET /health', userArn }),
  queryStringParameters: { deep: '1' },
});

describe('GET /health?deep=1 on serve and on the health function', () => {
  it('answers 503 degraded with the same checks on both hosts', async () => {
    const local = await fetch(`${server.url}/health?deep=1`);
    expect(local.status).toBe(503);
    expect(local.headers.get('cache-control')).toBe('no-store');
    const localBody = await local.json();
    expect(localBody).toEqual(EXPECTED);

    const deployed = await lambdaHandler(deepEvent(OPS_SESSION), lambdaContext());
    expect(deployed.statusCode).toBe(503);
    expect(JSON.parse(deployed.body)).toEqual(localBody);
  });

  it('answers the plain 200 without deep=1 on both hosts', async () => {
    const local = await fetch(`${server.url}/health`);
    expect(local.status).toBe(200);
    expect(await local.json()).toEqual({ status: 'ok', profiles: ['good', 'wrong'] });
    const deployed = await lambdaHandler(
      apiEvent({ routeKey: 'GET /health', userArn: APP_SESSION }),
      lambdaContext(),
    );
    expect(deployed.statusCode).toBe(200);
    expect(JSON.parse(deployed.body)).toEqual({ status: 'ok', profiles: ['good', 'wrong'] });
  });

  it('deployed, refuses deep=1 with 403 forbidden to a caller TOKEN_BROKER_HEALTH_DEEP_CALLERS does not name', async () => {
    const refused = await lambdaHandler(deepEvent(APP_SESSION), lambdaContext());
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse(refused.body)).toEqual({
      error: 'forbidden',
      message:
        'caller "arn:aws:iam::123456789012:role/app" may not ask for GET /health?deep=1; add it to the healthDeepCallers param',
      caller: 'arn:aws:iam::123456789012:role/app',
    });
    const allowed = await lambdaHandler(
      deepEvent('arn:aws:sts::123456789012:assumed-role/sre-oncall/bob'),
      lambdaContext(),
    );
    expect(allowed.statusCode).toBe(503);
    expect(JSON.parse(allowed.body)).toEqual(EXPECTED);
  });

  it('shares one check among 50 concurrent deep requests to serve: each key opened once', async () => {
    const opened: string[] = [];
    const counting: OpenKeystore = async (bytes, options) => {
      opened.push(options?.password ?? '');
      return openKeystore(bytes, options);
    };
    const config = await loadConfig({ path: configFile, env: {}, cwd: dir });
    const counted = await startServer({
      config,
      port: 0,
      deepHealth: new DeepHealthCheck({
        secrets: createSecretResolver({ env: {}, cwd: dir }),
        openKeystore: counting,
      }),
    });
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await fetch(`${counted.url}/health?deep=1`);
          return { status: res.status, body: await res.json() };
        }),
      );
      for (const answer of answers) expect(answer).toEqual({ status: 503, body: EXPECTED });
      expect(opened.filter((p) => p === 'changeit')).toHaveLength(1);
      // One check: the cached password, then the one fetched past the secrets cache.
      expect(opened.filter((p) => p === 'not-the-password')).toHaveLength(2);
    } finally {
      await counted.close();
    }
  });
});
