import { createHash, randomBytes } from 'node:crypto';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { token } from '../../lib/cli/token.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { captureIo } from '../support/cli-io.ts';
import { startDynalite } from '../support/dynalite.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

const KEY_FILE = join(KEYSTORE_FIXTURES, 'java-rsa2048.jks');
let server: AuthorizationServer;
let dir: string;

function capture(env: Record<string, string> = {}, cwd = dir) {
  return captureIo({ env: { STORE_PASSWORD: 'changeit', ...env }, cwd });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-token-'));
  server = await startAuthorizationServer({
    clients: [
      {
        clientId: 'cli-app',
        certificatePem: await readFile(join(KEYSTORE_FIXTURES, 'java-rsa2048.jks.signer.cert.pem'), 'utf8'),
        subjects: ['ops@example.com', 'other@example.com'],
      },
    ],
  });
  await writeFile(
    join(dir, 'token-broker.yaml'),
    [
      'profiles:',
      '  demo:',
      '    issuer: cli-app',
      '    subject: ops@example.com',
      '    subjects: ["*@example.com"]',
      `    tokenUri: POST ${server.tokenUrl}`,
      '    scope: read write',
      `    certStore: file:${KEY_FILE}`,
      '    certPassword: env:STORE_PASSWORD',
      '    callers: ["arn:aws:iam::123456789012:role/nobody"]',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('token-broker token', () => {
  it('prints the token JSON, bypassing the callers policy as the operator', async () => {
    const c = capture();
    const code = await token(
      ['demo', '--subject', 'other@example.com', '--scope', 'read', '--min-ttl', '120'],
      c.io,
    );
    expect(code).toBe(0);
    const printed = JSON.parse(c.out.join(''));
    const audit = c.err.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'token issued',
        caller: 'cli',
        profile: 'demo',
        subject: 'other@example.com',
        cached: false,
        fingerprint: createHash('sha256').update(printed.access_token).digest('hex').slice(0, 8),
      }),
    ]);
    expect(c.err.join('')).not.toContain(printed.access_token);
    expect(printed).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      expires_at: expect.any(Number),
      scope: 'read',
      cached: false,
    });
    expect(server.introspect(printed.access_token)).toMatchObject({ subject: 'other@example.com' });
  });

  it('reads the config named by --config', async () => {
    const elsewhere = capture({}, tmpdir());
    expect(await token(['demo', '--config', join(dir, 'token-broker.yaml')], elsewhere.io)).toBe(0);
  });

  it('reports a broker error as one line on stderr with exit 1', async () => {
    const c = capture();
    expect(await token(['demo', '--subject', 'eve@evil.org'], c.io)).toBe(1);
    expect(c.out).toEqual([]);
    expect(c.err).toEqual([
      'token-broker: ERR_SUBJECT_NOT_ALLOWED: subject "eve@evil.org" is not allowed for profile "demo"; ask for one its subjects patterns match\n',
    ]);
  });

  it('reports a wrong keystore password without revealing it', async () => {
    const c = capture({ STORE_PASSWORD: 'wrong-password-xyz' });
    expect(await token(['demo'], c.io)).toBe(1);
    expect(c.err.join('')).toMatch(/^token-broker: ERR_KEYSTORE_PASSWORD: /);
    expect(c.err.join('')).not.toContain('wrong-password-xyz');
  });

  it('exits 2 on usage mistakes', async () => {
    const c = capture();
    expect(await token([], c.io)).toBe(2);
    expect(c.err).toEqual([
      'token-broker: token needs a profile name; usage: token <profile> [--subject S] [--scope S] [--min-ttl N] [--config F] (see --help)\n',
    ]);
    const c2 = capture();
    expect(await token(['demo', '--min-ttl', 'soon'], c2.io)).toBe(2);
    expect(c2.err).toEqual(['token-broker: --min-ttl needs a whole number of seconds (see --help)\n']);
  });

  it('uses the shared table of cache.store dynamodb: a second run is served from it', async () => {
    const dynamo = await startDynalite();
    try {
      const file = join(dir, 'shared.yaml');
      const base = await readFile(join(dir, 'token-broker.yaml'), 'utf8');
      await writeFile(
        file,
        `${base}cache:\n  store: dynamodb\n  table: cli-cache\n  endpoint: ${dynamo.endpoint}\n  sealKey: env:SEAL_KEY\n`,
      );
      const env = { SEAL_KEY: randomBytes(32).toString('hex') };
      server.resetRequests();
      const runs = [capture(env), capture(env)];
      for (const run of runs) expect(await token(['demo', '--config', file], run.io)).toBe(0);

      const [first, second] = runs.map((run) => JSON.parse(run.out.join('')) as Record<string, unknown>);
      expect(second!['access_token']).toBe(first!['access_token']);
      expect([first!['cached'], second!['cached']]).toEqual([false, true]);
      expect(server.requestCount()).toBe(1);
      expect(JSON.parse(runs[1]!.err.at(-1)!)).toMatchObject({ message: 'token issued', cached: true });
    } finally {
      await dynamo.close();
    }
  });

  it('exits 2 when the config file is missing', async () => {
    const c = capture();
    expect(await token(['demo', '--config', 'missing.yaml'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(
      /^token-broker: ERR_CONFIG_NOT_FOUND: no config file at .*missing\.yaml \(--config\)\n$/,
    );
  });
});
