/**
 * Parent side of the cross-instance tests and the P5 benchmark: a dynalite table, the
 * development authorization server, and broker instances forked as OS processes
 * (`instance-worker.ts`).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { startAuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { startDynalite } from './dynalite.ts';
import type { Dynalite } from './dynalite.ts';
import type { IssuedReport, WorkerMessage, WorkerOptions } from './instance-worker.ts';

const WORKER = join(import.meta.dirname, 'instance-worker.ts');
const KEY_PATH = join(import.meta.dirname, '..', 'fixtures', 'keystores', 'pem-rsa2048-with-cert.pem');
const CERT_PATH = `${KEY_PATH}.cert.pem`;
const AUDIENCE = 'token-broker-cross-instance';
const CLIENT_ID = 'cross-instance-client';

/** A running broker instance in a child process. */
export interface Instance {
  readonly child: ChildProcess;
  /** Resolves once the broker is built; rejects when the worker fails to start. */
  readonly ready: Promise<void>;
  /** Runs `count` concurrent issue() calls in the instance. */
  issue(count: number): Promise<IssuedReport>;
  /** SIGKILL: no clean-up, no lease release. */
  kill(): Promise<void>;
  /** Ends the instance normally. */
  stop(): Promise<void>;
}

/** The shared pieces every instance points at. */
export interface CrossInstanceEnvironment {
  readonly dynamo: Dynalite;
  readonly authorizationServer: AuthorizationServer;
  /** Options for a worker; `tokenUrl` may be overridden (a stalled endpoint). */
  workerOptions(overrides?: Partial<WorkerOptions>): WorkerOptions;
  /** Items of the table that carry a lease right now. */
  leasedItems(): Promise<number>;
  close(): Promise<void>;
}

export async function startCrossInstanceEnvironment(
  settings: { leaseMs?: number; table?: string; latencyMs?: number } = {},
): Promise<CrossInstanceEnvironment> {
  const certificatePem = await readFile(CERT_PATH, 'utf8');
  const dynamo = await startDynalite();
  const authorizationServer = await startAuthorizationServer({
    clients: [{ clientId: CLIENT_ID, certificatePem }],
    audience: [AUDIENCE],
    ...(settings.latencyMs === undefined ? {} : { latencyMs: settings.latencyMs }),
  });
  const table = settings.table ?? 'token-broker-cache';
  const sealKeyHex = randomBytes(32).toString('hex');
  const client = dynamo.client({ maxAttempts: 1 });
  return {
    dynamo,
    authorizationServer,
    workerOptions: (overrides = {}) => ({
      tokenUrl: authorizationServer.tokenUrl,
      audience: AUDIENCE,
      dynamoEndpoint: dynamo.endpoint,
      table,
      sealKeyHex,
      keyPath: KEY_PATH,
      leaseMs: settings.leaseMs,
      ...overrides,
    }),
    async leasedItems() {
      const { Items = [] } = await client.send(new ScanCommand({ TableName: table }));
      return Items.filter((item) => item['lease'] !== undefined).length;
    },
    async close() {
      client.destroy();
      await authorizationServer.close();
      await dynamo.close();
    },
  };
}

/** Forks one broker instance. */
export function forkInstance(options: WorkerOptions): Instance {
  const child = fork(WORKER, [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  // Through this process's streams, so the output goes with the test that forked it.
  child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (): Promise<WorkerMessage> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`instance exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (message: WorkerMessage) => {
        child.off('exit', onExit);
        resolve(message);
      });
    });
  const ready = next().then((message) => {
    if (message.type !== 'ready') throw new Error(`instance failed to start: ${JSON.stringify(message)}`);
  });
  ready.catch(() => undefined);
  return {
    child,
    ready,
    async issue(count) {
      const answer = next();
      child.send({ type: 'issue', count });
      const message = await answer;
      if (message.type !== 'issued') throw new Error(`instance failed: ${JSON.stringify(message)}`);
      return message;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}

/** Waits (polling, bounded) until `condition` holds. */
export async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
