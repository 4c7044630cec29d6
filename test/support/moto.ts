/**
 * moto's server mode (`moto_server`, a third-party AWS emulator) on 127.0.0.1, for tests
 * that run the real SDK clients against an implementation of the AWS APIs other than
 * ours. Where `moto_server` is not installed the caller skips with {@link MOTO_MISSING}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort } from '../consent/fixtures.ts';

/** The one-line reason a moto suite is skipped. */
export const MOTO_MISSING =
  'moto_server is not installed (pip install "moto[server]"); the moto runs are skipped';

/** Longest wait for moto to answer after it started. */
const STARTUP_MS = 30_000;

/** The `moto_server` executable on PATH, or undefined. */
export function motoServerPath(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'moto_server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A running moto server. */
export interface Moto {
  /** `http://127.0.0.1:<port>`: one endpoint for every service. */
  readonly endpoint: string;
  /** Fixed credentials; moto accepts any. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  close(): Promise<void>;
}

/** Starts `moto_server` on a free loopback port and waits until it answers. */
export async function startMoto(executable = motoServerPath()): Promise<Moto> {
  if (executable === undefined) throw new Error(MOTO_MISSING);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(executable, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString('utf8')).slice(-4000)));
  child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString('utf8')).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start on ${endpoint}: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    async close() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    },
  };
}
