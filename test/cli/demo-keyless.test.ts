/**
 * `token-broker demo --config F` with profiles that use web identity: the demo calls no AWS
 * STS, so a keyless profile is left out and a keystore-fallback one is served with its key,
 * each with one stderr line naming the profile and pointing at `npm run rehearse`. The other
 * profiles answer as before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null) continue;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The demo's stdout up to the curl line, and its stderr so far. */
function untilCurl(proc: ChildProcess, stderr: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const line = buffered.split('\n').find((l) => /^\s*curl /.test(l));
      if (line) resolve(line.trim());
    });
    proc.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${stderr()}`)));
  });
}

describe('token-broker demo --config with web identity profiles', () => {
  it('leaves a keyless profile out and serves a fallback one with its key, one line each, no STS call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tb-demo-keyless-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'password'), 'changeit');
    const keystore = `certStore: file:${join(KEYSTORE_FIXTURES, 'java-rsa2048.jks')}
    certPassword: file:password`;
    writeFileSync(
      join(dir, 'keyless.yaml'),
      `profiles:
  keyed:
    issuer: keyed-client
    subject: me@example.com
    tokenUri: POST https://login.example.com/oauth/token
    audience: my-audience
    ${keystore}
    callers: [local]
  graph:
    provider: entra-federated
    issuer: 11111111-2222-3333-4444-555555555555
    tokenUri: POST https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token
    certStore: aws:web-identity
    scope: https://graph.microsoft.com/.default
    callers: [local]
  migrating:
    issuer: migrating-client
    grant: client-assertion
    tokenUri: POST https://login.example.com/oauth/token
    audience: my-audience
    ${keystore}
    webIdentity: { audience: api://AzureADTokenExchange, fallback: keystore }
    callers: [local]
`,
    );
    // An STS endpoint nothing listens on: were the demo to ask STS, the fallback would not cure it.
    const demo = spawn(
      process.execPath,
      [
        'bin/token-broker.js',
        'demo',
        '--port',
        '0',
        '--auth-port',
        '0',
        '--config',
        join(dir, 'keyless.yaml'),
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          TOKEN_BROKER_CONFIG: '',
          AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:1',
          AWS_REGION: 'eu-west-1',
        },
      },
    );
    children.push(demo);
    let stderr = '';
    demo.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const curl = await untilCurl(demo, () => stderr);
    const url = /^curl -s -X POST (\S+) /.exec(curl)![1]!;
    const ask = async (profile: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ profile }),
      });
      return { status: res.status, body: (await res.json()) as { error?: string; token_type?: string } };
    };

    const notes = stderr.split('\n').filter((l) => l.startsWith('token-broker demo: profile'));
    expect(notes).toEqual([
      'token-broker demo: profile graph: left out, its web identity JWT comes from AWS STS, which the demo does not call; npm run rehearse -- --profiles F runs it against a loopback STS',
      'token-broker demo: profile migrating: served with its keystore key (webIdentity.fallback), not its web identity JWT from AWS STS; npm run rehearse -- --profiles F runs that path against a loopback STS',
    ]);
    expect(await ask('keyed')).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });
    expect(await ask('migrating')).toMatchObject({ status: 200, body: { token_type: 'Bearer' } });
    const left = await ask('graph');
    expect(left.status).toBe(404);
    expect(stderr).not.toContain('ERR_WEB_IDENTITY');
    expect(stderr).not.toContain('web identity unavailable');
  }, 60_000);
});
