/**
 * A fleet of `token-broker serve` processes on one dynalite table, for the fleet tests and
 * the P5-slow benchmark: each process is the real CLI (bin/token-broker.js), with its own
 * in-process cache, its own lease holder id, and the shared table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDynalite, type Dynalite } from './dynalite.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const KEY_PATH = join(ROOT, 'test/fixtures/keystores/pem-rsa2048-with-cert.pem');
/** Starting a process costs ~2 s of CPU (tsx, SDK, zod); a busy 2-core machine may need far more. */
const START_TIMEOUT_MS = 60_000;

/** One `serve` process. */
export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Its stderr so far (JSON log lines). */
  stderr(): string;
  /** SIGKILL: no clean-up, no lease release. */
  kill(): Promise<void>;
}

/** Answers of one batch of concurrent `POST /token` calls. */
export interface FleetAnswers {
  readonly statuses: readonly number[];
  /** Access tokens of the 200 answers. */
  readonly tokens: readonly string[];
  /** Error codes of the other answers. */
  readonly errors: readonly string[];
}

/** The table, the config and the processes. */
export interface Fleet {
  readonly dynamo: Dynalite;
  /** Starts one more `serve` process on the same config and table. */
  start(): Promise<ServeProcess>;
  close(): Promise<void>;
}

/** A profile served by the fleet: its name and token endpoint (the assertion is not checked there). */
export interface FleetProfile {
  readonly name: string;
  readonly tokenUrl: string;
  /** The profile's `dpop` setting; default off. */
  readonly dpop?: 'optional' | 'required';
}

function configYaml(profiles: readonly FleetProfile[], endpoint: string): string {
  const lines = ['profiles:'];
  for (const profile of profiles)
    lines.push(
      `  ${profile.name}:`,
      '    provider: generic',
      '    issuer: fleet-client',
      '    subject: alice@example.com',
      `    tokenUri: POST ${profile.tokenUrl}`,
      '    audience: token-broker-fleet',
      '    scope: read',
      `    certStore: file:${KEY_PATH}`,
      '    callers: [local]',
      ...(profile.dpop === undefined ? [] : [`    dpop: ${profile.dpop}`]),
    );
  lines.push(
    'cache:',
    '  store: dynamodb',
    '  table: token-broker-fleet',
    `  endpoint: ${endpoint}`,
    '  sealKey: env:FLEET_SEAL_KEY',
    '',
  );
  return lines.join('\n');
}

/** Resolves with the URL `token-broker serve` prints once it listens; rejects if it exits or is slow to start. */
export function serveListening(child: ChildProcess, stderr: () => string): Promise<string> {
  return new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr()}`)), START_TIMEOUT_MS);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolveUrl(url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr()}`));
    });
  });
}

/** Starts dynalite and writes a config with `profiles`; processes are started with `start()`. */
export async function startFleet(profiles: readonly FleetProfile[]): Promise<Fleet> {
  const dynamo = await startDynalite();
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-fleet-'));
  const file = join(dir, 'token-broker.yaml');
  await writeFile(file, configYaml(profiles, dynamo.endpoint));
  const sealKey = randomBytes(32).toString('hex');
  const processes: ServeProcess[] = [];
  return {
    dynamo,
    async start() {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'bin/token-broker.js'), 'serve', '--config', file, '--port', '0'],
        {
          cwd: dir,
          env: {
            PATH: process.env['PATH'],
            FLEET_SEAL_KEY: sealKey,
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      const url = await serveListening(child, () => stderr);
      const serve: ServeProcess = {
        url,
        child,
        stderr: () => stderr,
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      };
      processes.push(serve);
      return serve;
    },
    async close() {
      await Promise.all(processes.map((serve) => serve.kill()));
      await dynamo.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `count` concurrent `POST /token` calls for `profile` to `serve`. */
export async function askConcurrently(
  serve: ServeProcess,
  profile: string,
  count: number,
): Promise<FleetAnswers> {
  const answers = await Promise.all(
    Array.from({ length: count }, async () => {
      const response = await fetch(`${serve.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ profile }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }),
  );
  return {
    statuses: answers.map((answer) => answer.status),
    tokens: answers.flatMap((answer) => (answer.status === 200 ? [String(answer.body['access_token'])] : [])),
    errors: answers.flatMap((answer) => (answer.status === 200 ? [] : [String(answer.body['error'])])),
  };
}
