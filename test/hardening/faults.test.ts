/**
 * Fault injection: the token endpoint down, slow, failing or throttling; Secrets Manager
 * throttling, denying or missing a secret; DynamoDB gone. Retries stay bounded (requests
 * are counted), valid cached tokens keep being served, and otherwise the right code comes
 * back. Timeouts and clocks are injected: nothing here waits long.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GetSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSharedStore } from '../../lib/cache/shared-store-factory.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { Metrics } from '../../lib/types.ts';
import { startDynalite } from '../support/dynalite.ts';
import {
  hang,
  json,
  startFaultServer,
  tokenAnswer,
  type FaultServer,
  type FaultStep,
} from '../support/fault-server.ts';
import { SHUTDOWN_GRACE_MS } from '../../lib/server/index.ts';
import { harnessBroker, harnessConfig, KEY_FILE, profileYaml, recordingFetch } from './harness.ts';
import { capturingLogger, fixture, fixturePath, rejection, reportTally } from './support.ts';

let faults = 0;
afterAll(() => reportTally('faults', { badInputs: 0, fuzzCases: 0, faults }));

const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
const T0 = 1_900_000_000_000;

const good = (token: string, expiresIn = 3600): FaultStep =>
  tokenAnswer(token, { token_type: 'Bearer', expires_in: expiresIn });

function profileFor(url: string, certStore?: string) {
  return harnessConfig({
    p: {
      issuer: 'client-f',
      tokenUrl: url,
      subject: 'alice@example.com',
      subjects: ['*@example.com'],
      callers: ['*'],
      ...(certStore !== undefined && { certStore }),
    },
  });
}

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('authorization server faults', () => {
  let endpoint: FaultServer;
  const servers: FaultServer[] = [];
  afterAll(async () => Promise.all(servers.map((s) => s.close())));
  beforeEach(async () => {
    endpoint = await startFaultServer([good('unused')]);
    servers.push(endpoint);
  });

  it('down: three attempts, then ERR_UPSTREAM_UNAVAILABLE (503) naming the endpoint', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/token`;
    const sent: string[] = [];
    const waits: number[] = [];
    const broker = harnessBroker(profileFor(url), {
      fetch: recordingFetch(sent),
      exchange: { sleep: async (ms) => void waits.push(ms) },
    });
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(HTTP_ERRORS[err.code].status).toBe(503);
    expect(err.message).toMatch(
      /^could not reach the token endpoint http:\/\/127\.0\.0\.1:\d+\/token \(ECONNREFUSED\) \(3 attempts\); check the URL and the network$/,
    );
    expect(sent.filter((s) => s.startsWith('http')).length).toBe(3);
    expect(waits).toEqual([150, 300]); // exponential backoff with the injected jitter
    faults += 1;
  });

  it('slow: each attempt is cut at its timeout and retries stop at the deadline', async () => {
    endpoint.answer(hang);
    const broker = harnessBroker(profileFor(endpoint.url), {
      exchange: { attemptTimeoutMs: 100, deadlineMs: 500 },
    });
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_TIMEOUT');
    expect(HTTP_ERRORS[err.code].status).toBe(503);
    expect(err.message).toMatch(/did not answer within 100 ms \(2 attempts\); check that it is reachable$/);
    // Two attempts and one backoff fit in the deadline; a third (after a 300 ms backoff) would not.
    expect(endpoint.count()).toBe(2);
    faults += 1;
  });

  it('5xx: three attempts, then ERR_UPSTREAM_UNAVAILABLE; a 5xx followed by a token succeeds', async () => {
    endpoint.answer(json(503, { message: 'maintenance' }));
    const broker = harnessBroker(profileFor(endpoint.url));
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.message).toMatch(/answered HTTP 503 \(3 attempts\); retry later$/);
    expect(endpoint.count()).toBe(3);

    endpoint.answer(json(502, {}), good('after-502'));
    const token = await broker.issue({ profile: 'p', caller });
    expect(token.access_token).toBe('after-502');
    expect(endpoint.count()).toBe(5);
    faults += 2;
  });

  it('429: waits the Retry-After that fits the deadline and gets the token on the next attempt', async () => {
    const waits: number[] = [];
    endpoint.answer(json(429, { error: 'slow_down' }, { 'retry-after': '30' }), good('after-429'));
    const broker = harnessBroker(profileFor(endpoint.url), {
      exchange: { sleep: async (ms) => void waits.push(ms), deadlineMs: 60_000 },
    });
    const token = await broker.issue({ profile: 'p', caller });
    expect(token.access_token).toBe('after-429');
    expect(waits).toEqual([30_000]);
    expect(endpoint.count()).toBe(2);
    faults += 1;
  });

  it('429: a Retry-After past the deadline fails at once with the wait for the caller', async () => {
    const waits: number[] = [];
    endpoint.answer(json(429, { error: 'slow_down' }, { 'retry-after': '3600' }), good('never'));
    const broker = harnessBroker(profileFor(endpoint.url), {
      exchange: { sleep: async (ms) => void waits.push(ms), deadlineMs: 60_000 },
    });
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    expect(err.details['retry_after']).toBe(3600);
    expect(waits).toEqual([]);
    expect(endpoint.count()).toBe(1);
    faults += 1;
  });

  it('serves a still-valid cached token while the endpoint is down, and refreshes it in the background', async () => {
    let now = T0;
    const logger = capturingLogger();
    endpoint.answer(good('cached-1', 3600));
    const broker = harnessBroker(profileFor(endpoint.url), { clock: () => now, logger });
    expect((await broker.issue({ profile: 'p', caller })).cached).toBe(false);
    endpoint.answer(json(503, {}));
    // Fresh: served without asking upstream.
    now += 60_000;
    const fresh = await broker.issue({ profile: 'p', caller });
    expect(fresh).toMatchObject({ access_token: 'cached-1', cached: true });
    expect(endpoint.count()).toBe(1);
    // Inside the refresh margin but still valid: served, and the failed background refresh is logged.
    now = T0 + 3_400_000;
    const stale = await broker.issue({ profile: 'p', caller });
    expect(stale).toMatchObject({ access_token: 'cached-1', cached: true, expires_in: 200 });
    await expect
      .poll(() => logger.lines.some((l) => l.message.startsWith('background token refresh failed')))
      .toBe(true);
    expect(logger.lines.find((l) => l.message.startsWith('background'))?.fields).toMatchObject({
      code: 'ERR_UPSTREAM_UNAVAILABLE',
    });
    expect(endpoint.count()).toBe(4); // one background refresh of three attempts
    // Past expiry the broker no longer has anything valid: the upstream error comes back.
    now = T0 + 3_700_000;
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
    faults += 1;
  });
});

describe('Secrets Manager faults', () => {
  const sm = mockClient(SecretsManagerClient);
  let endpoint: FaultServer;
  afterAll(async () => {
    sm.restore();
    await endpoint?.close();
  });
  beforeEach(async () => {
    sm.reset();
    endpoint ??= await startFaultServer([good('sm-token')]);
  });

  const awsError = (name: string, status: number) =>
    new SecretsManagerServiceException({
      name,
      $fault: status >= 500 || name === 'ThrottlingException' ? 'server' : 'client',
      $metadata: { httpStatusCode: status },
      message: `${name} happened`,
    });

  function brokerWith(now: () => number) {
    const secrets = createSecretResolver({
      secretsManager: () =>
        new SecretsManagerClient({
          region: 'eu-west-1',
          credentials: { accessKeyId: 'AKIDX', secretAccessKey: 'x' },
        }),
      env: {},
      cwd: '/',
      clock: now,
      sleep: async () => undefined,
    });
    const config = profileFor(endpoint.url, 'secretsmanager:prod/hardening/keystore');
    return harnessBroker(config, { secrets, clock: now });
  }
  const KEY = fixture('pem-ec256-pkcs8.pem').toString('utf8');

  it('ThrottlingException: three calls, then ERR_SECRET_UNAVAILABLE (503, generic body)', async () => {
    sm.on(GetSecretValueCommand).rejects(awsError('ThrottlingException', 400));
    const err = await rejection(() => brokerWith(() => T0).issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_SECRET_UNAVAILABLE');
    expect(HTTP_ERRORS[err.code]).toEqual({ status: 503, error: 'secret_unavailable', expose: false });
    expect(err.message).toBe(
      'secret "secretsmanager:prod/hardening/keystore": Secrets Manager is unavailable (ThrottlingException); retry later',
    );
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    faults += 1;
  });

  it('ThrottlingException once: the retry gets the secret and the token', async () => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(awsError('ThrottlingException', 400))
      .resolves({ SecretString: KEY, VersionId: 'v1' });
    const token = await brokerWith(() => T0).issue({ profile: 'p', caller });
    expect(token.access_token).toBe('sm-token');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    faults += 1;
  });

  it.each([
    [
      'AccessDeniedException',
      'ERR_SECRET_ACCESS_DENIED',
      /access denied; allow secretsmanager:GetSecretValue on it for this role$/,
    ],
    [
      'ResourceNotFoundException',
      'ERR_SECRET_NOT_FOUND',
      /does not exist in Secrets Manager \(check the name, region and \?stage=\/\?version=\)$/,
    ],
  ] as const)('%s: one call, %s naming the fix', async (name, code, message) => {
    sm.on(GetSecretValueCommand).rejects(awsError(name, 400));
    const err = await rejection(() => brokerWith(() => T0).issue({ profile: 'p', caller }));
    expect(err.code).toBe(code);
    expect(HTTP_ERRORS[err.code].status).toBe(503);
    expect(err.message).toMatch(message);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    faults += 1;
  });

  it('serves the cached token while Secrets Manager throttles; a new subject gets ERR_SECRET_UNAVAILABLE', async () => {
    let now = T0;
    sm.on(GetSecretValueCommand).resolves({ SecretString: KEY, VersionId: 'v1' });
    const broker = brokerWith(() => now);
    await broker.issue({ profile: 'p', caller });
    sm.reset();
    sm.on(GetSecretValueCommand).rejects(awsError('ThrottlingException', 400));
    now += 10 * 60_000; // the secret cache has lapsed
    const cached = await broker.issue({ profile: 'p', caller });
    expect(cached).toMatchObject({ access_token: 'sm-token', cached: true });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    const err = await rejection(() => broker.issue({ profile: 'p', subject: 'bob@example.com', caller }));
    expect(err.code).toBe('ERR_SECRET_UNAVAILABLE');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    faults += 1;
  });
});

describe('DynamoDB faults', () => {
  let endpoint: FaultServer;
  afterAll(async () => endpoint?.close());

  it('keeps issuing tokens when DynamoDB becomes unreachable, counting the fallbacks', async () => {
    endpoint = await startFaultServer([good('ddb-1')]);
    const dynalite = await startDynalite();
    const counts: string[] = [];
    const metrics: Metrics = { count: (name) => void counts.push(name), timing: () => undefined };
    const logger = capturingLogger();
    const secrets = createSecretResolver({ env: {}, cwd: '/' });
    const settings = {
      store: 'dynamodb',
      table: 'hardening-cache',
      endpoint: dynalite.endpoint,
      region: undefined,
      sealKey: `plain:${'ab'.repeat(32)}`,
      refreshMargin: 300,
    } as const;
    const store = await createSharedStore(settings, {
      secrets,
      logger,
      metrics,
      resilience: { timeoutMs: 300 },
    });
    const config = profileFor(endpoint.url);
    const first = harnessBroker(config, { sharedStore: store, logger, metrics });
    expect((await first.issue({ profile: 'p', caller })).access_token).toBe('ddb-1');
    // Another instance finds the token in the shared store, without asking upstream.
    const second = harnessBroker(config, { sharedStore: store, logger, metrics });
    expect(await second.issue({ profile: 'p', caller })).toMatchObject({
      access_token: 'ddb-1',
      cached: true,
    });
    expect(endpoint.count()).toBe(1);

    await dynalite.close();
    endpoint.answer(good('ddb-2'));
    // The first instance still holds its token in process; a third one goes upstream.
    expect(await first.issue({ profile: 'p', caller })).toMatchObject({
      access_token: 'ddb-1',
      cached: true,
    });
    const third = harnessBroker(config, { sharedStore: store, logger, metrics });
    expect(await third.issue({ profile: 'p', caller })).toMatchObject({
      access_token: 'ddb-2',
      cached: false,
    });
    expect(counts).toContain('SharedCacheFallbacks');
    expect(logger.lines.some((l) => l.message.startsWith('shared token cache unavailable'))).toBe(true);
    faults += 1;
  });

  it('refuses to start on a local endpoint that is down with ERR_CACHE_UNAVAILABLE', async () => {
    const port = await closedPort();
    const err = await rejection(() =>
      createSharedStore(
        {
          store: 'dynamodb',
          table: 'hardening-cache',
          endpoint: `http://127.0.0.1:${port}`,
          region: undefined,
          sealKey: `plain:${'ab'.repeat(32)}`,
          refreshMargin: 300,
        },
        { secrets: createSecretResolver({ env: {}, cwd: '/' }) },
      ),
    );
    expect(err.code).toBe('ERR_CACHE_UNAVAILABLE');
    expect(HTTP_ERRORS[err.code].status).toBe(503);
    expect(err.message).toMatch(
      /^cannot prepare table "hardening-cache" at cache\.endpoint http:\/\/127\.0\.0\.1:\d+ \((connection refused by 127\.0\.0\.1:\d+|no answer in time)\): start the local DynamoDB or remove cache\.endpoint$/,
    );
    faults += 1;
  });
});

describe('process life', () => {
  const BIN = fileURLToPath(new URL('../../bin/token-broker.js', import.meta.url));
  let dir: string;
  let endpoint: FaultServer;
  /** Requests the endpoint holds until the test answers them. */
  const held: Array<() => void> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tb-life-'));
    endpoint = await startFaultServer([hang]);
  });
  afterAll(async () => {
    await endpoint.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config of `count` profiles against the scripted endpoint. */
  async function configFile(count = 1): Promise<string> {
    const path = join(dir, `token-broker-${count}.yaml`);
    const profiles = Array.from({ length: count }, (_, i) =>
      profileYaml(`p${i}`, {
        issuer: 'client-life',
        tokenUrl: endpoint.url,
        subject: 'alice@example.com',
        certStore: `file:${fixturePath(KEY_FILE)}`,
        callers: ['local'],
      }),
    );
    await writeFile(path, `profiles:\n${profiles.join('')}`);
    return path;
  }

  /** Resolves with the first stdout line matching `pattern`, bounded in time. */
  function line(child: ChildProcess, pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`no line ${pattern} in ${text}`)), 15_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const match = pattern.exec(text);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      });
    });
  }

  const exited = (child: ChildProcess) =>
    new Promise<{ code: number | null; at: number }>((resolve) =>
      child.once('exit', (code) => resolve({ code, at: Date.now() })),
    );

  async function until(condition: () => boolean): Promise<void> {
    for (let i = 0; i < 300 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(condition()).toBe(true);
  }

  async function serve(): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
    const child = spawn(process.execPath, [BIN, 'serve', '--config', await configFile(), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const [, url] = await line(child, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    return { child, url: url!, stderr: () => stderr };
  }

  const post = (url: string) =>
    fetch(`${url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"profile":"p0"}',
    });

  it(`exits ${SHUTDOWN_GRACE_MS} ms after SIGTERM behind a provider that hangs, refusing new connections`, async () => {
    endpoint.answer(hang);
    const before = endpoint.count();
    const { child, url } = await serve();
    const exit = exited(child);
    const inFlight = post(url).then(
      (res) => res.status,
      () => 'cut off',
    );
    await until(() => endpoint.count() > before);
    const signalled = Date.now();
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    const { code, at } = await exit;
    expect(code).toBe(0);
    // The grace is the bound: not cut at once, never the exchange's own 24 s.
    expect(at - signalled).toBeGreaterThanOrEqual(SHUTDOWN_GRACE_MS - 100);
    expect(at - signalled).toBeLessThan(SHUTDOWN_GRACE_MS + 3_000);
    expect(await inFlight).toBe('cut off');
    faults += 1;
  }, 30_000);

  it('lets a request in flight at SIGTERM finish, then exits at once', async () => {
    endpoint.answer((req, res) => void held.push(() => tokenAnswer('late-1')(req, res, '')));
    const { child, url } = await serve();
    const exit = exited(child);
    const inFlight = post(url);
    await until(() => held.length > 0);
    const signalled = Date.now();
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    held.shift()!();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ access_token: 'late-1' });
    const { code, at } = await exit;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(SHUTDOWN_GRACE_MS);
    faults += 1;
  }, 30_000);

  it('exits quietly when stdout closes early (check | head)', async () => {
    const child = spawn(process.execPath, [BIN, 'check', '--config', await configFile(40)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exit = exited(child);
    // Read one chunk, then close the pipe as `head` does.
    await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
    child.stdout!.destroy();
    const { code } = await exit;
    expect(stderr).not.toMatch(/EPIPE|Error|\n\s+at /);
    expect(code).toBe(0);
    faults += 1;
  }, 30_000);
});
