import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';

const SECRET = 'sk_live_7Qz9wXeR4tY2uI0oP';
const API_KEY = 'tbk_local_5f4e3d2c1b0a99887766';

async function run(text: string) {
  const dir = await mkdtemp(join(tmpdir(), 'check-secrets-'));
  await writeFile(join(dir, 'token-broker.yaml'), text);
  const cap = captureIo({ cwd: dir });
  const code = await main(['check'], cap.io);
  return { code, stdout: cap.stdout(), stderr: cap.stderr() };
}

describe('check on a file that holds a secret where it does not belong', () => {
  it('refuses a secret in the token URI query with the fix, and never prints it', async () => {
    const { code, stdout, stderr } = await run(
      [
        'profiles:',
        '  p:',
        '    issuer: app',
        `    tokenUri: "https://idp.example.com/token?client_secret=${SECRET}"`,
        '    certStore: file:./key.pem',
        '',
      ].join('\n'),
    );
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'token-broker: ERR_CONFIG: profile "p": tokenUri: the query parameter "client_secret" may carry a secret; remove it from the URI and give it in params (params: { client_secret: env:VAR })\n',
    );
    expect(stdout + stderr).not.toContain(SECRET);
  });

  it('refuses a raw API key and never prints it', async () => {
    const { code, stdout, stderr } = await run(
      [
        'profiles:',
        '  p:',
        '    issuer: app',
        '    tokenUri: https://idp.example.com/token',
        '    certStore: file:./key.pem',
        'server:',
        `  apiKeys: { "${API_KEY}": team-billing }`,
        '',
      ].join('\n'),
    );
    expect(code).toBe(2);
    expect(stderr).toBe(
      'token-broker: ERR_CONFIG: server.apiKeys: an entry is not "sha256:<64 lower-case hex>"; put the SHA-256 of the key, never the key\n',
    );
    expect(stdout + stderr).not.toContain(API_KEY);
  });
});
