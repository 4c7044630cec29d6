import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/token-broker.js', import.meta.url));

describe('the CLI as a process, on a command that loads the AWS SDK', () => {
  it('writes one line on stderr: the typed error naming the network cause, no SDK notice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cli-stderr-'));
    await writeFile(
      join(dir, 'token-broker.yaml'),
      [
        'profiles:',
        '  demo:',
        '    issuer: cli-app',
        '    subject: ops@example.com',
        '    tokenUri: POST http://127.0.0.1:9/token',
        '    certStore: secretsmanager:prod/keystore',
        '    certPassword: secretsmanager:prod/keystore-password',
        '',
      ].join('\n'),
    );
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '',
      HOME: dir,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDCLI',
      AWS_SECRET_ACCESS_KEY: 'cli-secret-not-real',
      // Nothing listens on port 9: the connection is refused at once.
      AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
    };
    const run = spawnSync(process.execPath, [BIN, 'token', 'demo'], { cwd: dir, env, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    const lines = run.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toEqual([
      'token-broker: ERR_SECRET_UNAVAILABLE: secret "secretsmanager:prod/keystore": Secrets Manager is unavailable (connection refused by 127.0.0.1:9); retry later',
    ]);
  }, 30_000);
});
