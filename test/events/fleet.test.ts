import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { DETAIL_TYPES } from '../../lib/events/schema.ts';
import { FAKE_CREDENTIALS, startDynalite, type Dynalite } from '../support/dynalite.ts';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import type { EventsWorkerCommand, EventsWorkerMessage, EventsWorkerOptions } from './events-worker.ts';

const WORKER = join(import.meta.dirname, 'events-worker.ts');
const KEY_PATH = join(import.meta.dirname, '..', 'fixtures', 'keystores', 'pem-rsa2048-with-cert.pem');
const INSTANCES = 4;

type Mode = 'fail' | 'ok' | 'consent' | 'refuse';

interface Worker {
  run(command: EventsWorkerCommand): Promise<unknown>;
  stop(): Promise<void>;
}

function forkWorker(options: EventsWorkerOptions, bridge: EventBridgeServer): Worker {
  const child = fork(WORKER, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ENDPOINT_URL_EVENTBRIDGE: bridge.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Through this process's streams, so the output goes with the test that forked it.
  child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (): Promise<EventsWorkerMessage> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`worker exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (message: EventsWorkerMessage) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  let queue: Promise<unknown> = next().then((message) => {
    if (message.type !== 'ready') throw new Error(`worker failed to start: ${JSON.stringify(message)}`);
  });
  return {
    run(command) {
      const answer = queue.then(async () => {
        const reply = next();
        child.send(command);
        const message = await reply;
        if (message.type !== 'done') throw new Error(`worker failed: ${JSON.stringify(message)}`);
        return message.result;
      });
      queue = answer.catch(() => undefined);
      return answer;
    },
    async stop() {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}

/** The `iss` of the assertion in a token request's form body. */
function issuerOf(body: string): string {
  const assertion = new URLSearchParams(body).get('assertion') ?? '';
  const payload = assertion.split('.')[1] ?? '';
  return String((JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iss?: unknown }).iss);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

let bridge: EventBridgeServer;
let dynamo: Dynalite;
let provider: FaultServer;
let workers: Worker[];
const modes = new Map<string, Mode>();
const accessTokens: string[] = [];
const sealKeyHex = randomBytes(32).toString('hex');

beforeAll(async () => {
  [bridge, dynamo] = await Promise.all([startEventBridgeServer(), startDynalite()]);
  provider = await startFaultServer([
    (_, res, body) => {
      const issuer = issuerOf(body);
      const mode = modes.get(issuer) ?? 'ok';
      if (mode === 'fail')
        return json(res, 400, { error: 'invalid_grant', error_description: 'account locked' });
      if (mode === 'consent') return json(res, 400, { error: 'consent_required' });
      if (mode === 'refuse')
        return json(res, 401, { error: 'invalid_client', error_description: 'unknown key' });
      const token = `at-${issuer}-${randomBytes(16).toString('hex')}`;
      accessTokens.push(token);
      return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
    },
  ]);
  await ensureTable(dynamo.client(), 'events-fleet');
  const options = {
    tokenUrl: provider.url,
    dynamoEndpoint: dynamo.endpoint,
    table: 'events-fleet',
    sealKeyHex,
    keyPath: KEY_PATH,
  };
  workers = Array.from({ length: INSTANCES }, () => forkWorker(options, bridge));
}, 60_000);

afterAll(async () => {
  await Promise.all((workers ?? []).map((worker) => worker.stop()));
  await Promise.all([bridge?.close(), dynamo?.close(), provider?.close()]);
});

/** Runs `command` in every instance at once. */
const everywhere = (command: EventsWorkerCommand) =>
  Promise.all(workers.map((worker) => worker.run(command)));
const sent = (type: string) => bridge.events.filter((event) => event.DetailType === type);

describe(`events of ${INSTANCES} broker processes on one table`, () => {
  it('sends Token Refresh Failed once at the 3rd failure in a row, nothing more while failing, and Recovered once', async () => {
    modes.set('nightly-client', 'fail');
    // One run in each instance is four failures in a row of the one target: the 3rd sends.
    const summaries = (await everywhere({ type: 'refresh' })) as { failed: Record<string, number> }[];
    for (const summary of summaries) expect(summary.failed).toEqual({ ERR_UPSTREAM_REJECTED: 1 });
    expect(sent('Token Refresh Failed')).toHaveLength(1);
    await everywhere({ type: 'refresh' });
    expect(sent('Token Refresh Failed')).toHaveLength(1);
    expect(sent('Token Refresh Failed')[0]).toMatchObject({
      Source: 'token-broker',
      EventBusName: 'team-bus',
      Detail: {
        schemaVersion: '1',
        profile: 'nightly',
        subject: 'alice@example.com',
        code: 'ERR_UPSTREAM_REJECTED',
        error: 'invalid_grant',
        failures: 3,
      },
    });

    modes.set('nightly-client', 'ok');
    await everywhere({ type: 'refresh' });
    await everywhere({ type: 'refresh' });
    expect(sent('Token Refresh Recovered')).toHaveLength(1);
    expect(sent('Token Refresh Recovered')[0]?.Detail).toMatchObject({
      profile: 'nightly',
      failures: 2 * INSTANCES,
    });
  }, 60_000);

  it('sends Consent Required once for a subject many requests find without consent, then Consent Granted', async () => {
    modes.set('consenting-client', 'consent');
    const answers = [
      ...(await everywhere({ type: 'issue', profile: 'consenting' })),
      ...(await everywhere({ type: 'issue', profile: 'consenting' })),
    ];
    expect(answers).toEqual(Array.from({ length: 2 * INSTANCES }, () => ({ code: 'ERR_CONSENT_REQUIRED' })));
    expect(sent('Consent Required')).toHaveLength(1);
    const consentUrl = sent('Consent Required')[0]?.Detail['consentUrl'];
    expect(consentUrl).toMatch(/^https:\/\/broker\.example\.com(:443)?\/consent\/consenting/);
    await workers[0]!.run({ type: 'granted', profile: 'consenting', subject: 'bob@example.com' });
    expect(sent('Consent Granted')).toHaveLength(1);
  }, 60_000);

  it('sends Key Rejected once when every instance is refused the key', async () => {
    modes.set('refused-client', 'refuse');
    const answers = await everywhere({ type: 'issue', profile: 'refused' });
    expect(answers).toEqual(Array.from({ length: INSTANCES }, () => ({ code: 'ERR_UPSTREAM_REJECTED' })));
    await everywhere({ type: 'issue', profile: 'refused' });
    expect(sent('Key Rejected')).toHaveLength(1);
    expect(sent('Key Rejected')[0]?.Detail).toMatchObject({
      profile: 'refused',
      error: 'invalid_client',
      stage: 'key',
    });
  }, 60_000);

  it('sends Certificate Expiring once per threshold, whichever instance runs the step', async () => {
    await everywhere({ type: 'certificates' });
    await everywhere({ type: 'certificates' });
    expect(sent('Certificate Expiring')).toHaveLength(1);
    expect(sent('Certificate Expiring')[0]?.Detail).toMatchObject({ profile: 'nightly', threshold: 5000 });
  }, 60_000);

  it('sent each kind of event exactly once, and no token, assertion, key or seal key in any of them', () => {
    expect(Object.fromEntries(DETAIL_TYPES.map((type) => [type, sent(type).length]))).toEqual(
      Object.fromEntries(DETAIL_TYPES.map((type) => [type, 1])),
    );
    const text = JSON.stringify(bridge.events);
    const assertions = provider.bodies.map((body) => new URLSearchParams(body).get('assertion') ?? '');
    const pem = readFileSync(KEY_PATH, 'utf8');
    const keyLines = pem
      .slice(pem.indexOf('-----BEGIN PRIVATE KEY-----'))
      .split('\n')
      .filter((line) => line.length >= 40 && !line.startsWith('-----'));
    const secrets = [...accessTokens, ...assertions, ...keyLines, sealKeyHex];
    expect(accessTokens.length).toBeGreaterThan(0);
    expect(assertions.length).toBeGreaterThan(0);
    expect(keyLines.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(secret.length > 20 && text.includes(secret)).toBe(false);
    // Nothing shaped like a JWT (an assertion or a provider's token).
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });
});
