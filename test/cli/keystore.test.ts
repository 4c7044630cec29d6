import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../lib/cli/io.ts';
import { main } from '../../lib/cli/main.ts';
import { opensslX5tS256 } from '../keystore/helpers.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIR = 'test/fixtures/keystores';
const PASS = 'pä ss wörd ✓';

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(argv: string[], env: Record<string, string> = {}, stdin = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    readStdin: async () => stdin,
    env,
    cwd: ROOT,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

describe('token-broker keystore inspect', () => {
  it('prints JSON with the x5t#S256 openssl gives, reading the password from the environment', async () => {
    const result = await run(
      [
        'keystore',
        'inspect',
        `${DIR}/pem-ec384-encrypted-with-cert.pem`,
        '--password-env',
        'KS_PASS',
        '--json',
      ],
      { KS_PASS: PASS },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const listing = JSON.parse(result.stdout);
    expect(listing.format).toBe('pem');
    expect(listing.warnings).toEqual([]);
    expect(listing.entries).toHaveLength(1);
    const expected = opensslX5tS256('pem-ec384-encrypted-with-cert.pem.cert.pem');
    expect(listing.entries[0]).toMatchObject({
      alias: 'key',
      kind: 'private-key',
      keyAlgorithm: 'EC',
      keySize: 384,
      curve: 'P-384',
      jwsAlgorithm: 'ES384',
      subject: 'O=token-broker fixtures, CN=pem-ec384-encrypted-with-cert',
      x5tS256: expected,
      'x5t#S256': expected,
    });
    expect(result.stdout).not.toContain(PASS);
  });

  it('prints an aligned table, one row per entry, with the password from stdin', async () => {
    const result = await run(
      ['keystore', 'inspect', `${DIR}/pem-two-keys.pem`, '--password-stdin'],
      {},
      'unused\n',
    );
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('format: pem');
    expect(lines[1]).toMatch(/^ALIAS\s+KIND\s+KEY\s+JWS\s+SUBJECT\s+ISSUER\s+NOT AFTER\s+X5T#S256$/);
    expect(lines.slice(2).map((line) => line.split(/\s{2,}/).slice(0, 4))).toEqual([
      ['key-1', 'private-key', 'RSA 2048', 'RS256'],
      ['key-2', 'private-key', 'EC P-256', 'ES256'],
    ]);
    const column = lines[1]!.indexOf('X5T#S256');
    expect(lines[3]!.slice(column)).toBe(opensslX5tS256('pem-two-keys.key-2.cert.pem'));
  });

  it('shows one entry with --alias, matched case-insensitively', async () => {
    const result = await run([
      'keystore',
      'inspect',
      `${DIR}/pem-two-keys.pem`,
      '--alias',
      'KEY-2',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).entries.map((e: { alias: string }) => e.alias)).toEqual(['key-2']);
  });

  it('prints warnings on stderr below the table', async () => {
    const result = await run(['keystore', 'inspect', `${DIR}/pem-expired.pem`]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      "warning: certificate of 'key' expired on 2021-01-01T00:00:00.000Z; providers may reject it\n",
    );
  });

  it('names its own flag, not the profile key, for a wrong password', async () => {
    const result = await run(['keystore', 'inspect', `${DIR}/java-rsa2048.jks`, '--password', 'not-it']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'token-broker: ERR_KEYSTORE_PASSWORD: wrong keystore password (or the file was altered); check --password\n',
    );
  });

  it('exits 1 with one line on stderr for a keystore error, never echoing the password', async () => {
    const result = await run([
      'keystore',
      'inspect',
      `${DIR}/pem-damaged-base64.pem`,
      '--password',
      'hunter2-secret',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      "token-broker: ERR_KEYSTORE_FORMAT: PEM block 'PRIVATE KEY' is not valid base64 (damaged or truncated); copy the file again\n",
    );
    const missing = await run(['keystore', 'inspect', `${DIR}/no-such-file.p12`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `token-broker: ERR_KEYSTORE_FORMAT: keystore file '${DIR}/no-such-file.p12': no such file\n`,
    );
    const alias = await run(['keystore', 'inspect', `${DIR}/pem-two-keys.pem`, '--alias', 'nope']);
    expect(alias.code).toBe(1);
    expect(alias.stderr).toBe(
      "token-broker: ERR_ALIAS_NOT_FOUND: alias 'nope' not found; aliases: key-1, key-2\n",
    );
  });

  it.each([
    [['keystore'], 'keystore needs a command: keystore inspect <file>'],
    [['keystore', 'list', 'x'], "unknown keystore command 'list'; use: keystore inspect <file>"],
    [['keystore', 'inspect'], 'keystore inspect needs a keystore file'],
    [
      ['keystore', 'inspect', 'a', '--type', 'zip'],
      '--type must be one of auto, jks, jceks, pkcs12, bks, pem, jwk, google-json',
    ],
    [
      ['keystore', 'inspect', 'a', '--password', 'p', '--password-stdin'],
      'give the password one way: --password, --password-env or --password-stdin',
    ],
    [
      ['keystore', 'inspect', 'a', '--password-env', 'UNSET_VAR'],
      '--password-env: environment variable UNSET_VAR is not set',
    ],
  ])('exits 2 for the usage mistake %j', async (argv, message) => {
    const result = await run(argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`token-broker: ${message} (see --help)\n`);
  });

  it('runs through the bin script (one process)', () => {
    const out = execFileSync(
      process.execPath,
      ['bin/token-broker.js', 'keystore', 'inspect', `${DIR}/pem-rsa2048-with-cert.pem`, '--json'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    const listing = JSON.parse(out);
    expect(listing.entries[0]['x5t#S256']).toBe(opensslX5tS256('pem-rsa2048-with-cert.pem.cert.pem'));
  });
});
