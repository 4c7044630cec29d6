/**
 * What the P1 and P6 benchmarks share: the demo keystore's profile in front of the
 * development authorization server, written to a temporary config, and the child-process
 * helpers for servers that print their URL once they listen.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The demo keystore, its password and certificate (`examples/local`). */
export const DEMO = join(ROOT, 'examples/local');

/** The development authorization server, trusting the demo certificate; tokens live an hour. */
export async function startDemoAuthorizationServer(): Promise<AuthorizationServer> {
  return startAuthorizationServer({
    clients: [
      { clientId: 'demo-client', certificatePem: await readFile(join(DEMO, 'demo-cert.pem'), 'utf8') },
    ],
    audience: ['token-broker-demo'],
    tokenTtl: 3600,
  });
}

/** Who may call the `demo` profile, and which subjects it may ask for besides its own. */
export interface DemoProfileOptions {
  readonly callers: string;
  readonly subjects?: string;
}

/** A config whose one profile, `demo`, signs with the demo JKS keystore for `tokenUrl`. */
export function demoConfigYaml(tokenUrl: string, { callers, subjects }: DemoProfileOptions): string {
  return `profiles:
  demo:
    provider: generic
    issuer: demo-client
    subject: demo-user@example.com
${subjects === undefined ? '' : `    subjects: ${subjects}\n`}    tokenUri: POST ${tokenUrl}
    audience: token-broker-demo
    scope: read write
    certStore: file:${join(DEMO, 'demo-keystore.jks')}
    certStoreType: jks
    certPassword: file:${join(DEMO, 'demo-keystore.password')}
    certAlias: demo
    callers: ${callers}
`;
}

/** A temporary directory holding `token-broker.yaml`; `remove` deletes both. */
export interface TempConfig {
  readonly dir: string;
  readonly file: string;
  remove(): Promise<void>;
}

/** Writes `yaml` as `token-broker.yaml` in a fresh temporary directory named after `prefix`. */
export async function writeTempConfig(prefix: string, yaml: string): Promise<TempConfig> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const file = join(dir, 'token-broker.yaml');
  await writeFile(file, yaml);
  return { dir, file, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Resolves with the URL a child prints (`listening on http://…`) once it listens.
 * @throws Error when the child exits first or does not print it within 30 s
 */
export function listening(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start within 30 s`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

/** Sends SIGTERM to a child that still runs and waits for it to exit. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
