import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];
let child: ChildProcess | undefined;

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null) continue;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await exited;
  }
});

/** Asks the demo broker for a token with the printed curl line's URL and body. */
async function tokenFrom(line: string) {
  const match = /^curl -s -X POST (\S+) -H 'Content-Type: application\/json' -d '(.+)'$/.exec(line);
  expect(match).not.toBeNull();
  return fetch(match![1]!, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: match![2]!,
  });
}

/** Resolves with the first stdout line matching `pattern`. */
function waitForLine(proc: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => pattern.test(l));
      if (line) resolve(line.trim());
    });
    proc.once('exit', (code) => reject(new Error(`demo exited with ${code} before printing the curl line`)));
  });
}

describe('npm start (token-broker demo)', () => {
  it('prints a curl line whose request returns a token, and stops cleanly on SIGTERM', async () => {
    child = spawn(process.execPath, ['bin/token-broker.js', 'demo', '--port', '0', '--auth-port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TOKEN_BROKER_CONFIG: '' },
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const line = await waitForLine(child, /^\s*curl /);
    const match = /^curl -s -X POST (\S+) -H 'Content-Type: application\/json' -d '(.+)'$/.exec(line);
    expect(match).not.toBeNull();
    const res = await fetch(match![1]!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: match![2]!,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.access_token.length).toBeGreaterThan(20);
    expect(body.expires_in).toBeGreaterThan(60);

    const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The audit line is there, by fingerprint; the token itself never is.
    expect(stderr).toContain('"message":"token issued"');
    expect(stderr).not.toContain(body.access_token);
  });

  it('runs any --config: each profile is verified with its own key, nothing beside the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-demo-config-'));
    writeFileSync(join(dir, 'password'), 'changeit');
    writeFileSync(
      join(dir, 'mine.yaml'),
      `profiles:
  mine:
    issuer: my-client
    subject: me@example.com
    tokenUri: POST https://login.example.com/oauth/token
    audience: my-audience
    certStore: file:${join(KEYSTORE_FIXTURES, 'java-rsa2048.jks')}
    certPassword: file:password
    callers: [local]
`,
    );
    const own = spawn(
      process.execPath,
      ['bin/token-broker.js', 'demo', '--port', '0', '--auth-port', '0', '--config', join(dir, 'mine.yaml')],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TOKEN_BROKER_CONFIG: '' } },
    );
    children.push(own);
    const res = await tokenFrom(await waitForLine(own, /^\s*curl /));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token_type: string }).token_type).toBe('Bearer');
  });
});
