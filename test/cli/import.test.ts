import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importCommand } from '../../lib/cli/import.ts';
import { main } from '../../lib/cli/main.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { captureIo } from '../support/cli-io.ts';
import { DATADIRECT_SEED } from '../config/helpers.ts';

function capture(stdin = '') {
  return captureIo({ stdin, cwd: dir });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-import-'));
  await writeFile(
    join(dir, 'odbc.ini'),
    `[ODBC Data Sources]\nDocuSign=DataDirect\n\n[DocuSign]\n${DATADIRECT_SEED.replace(/;\n/g, '\n')}`,
  );
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('token-broker import datadirect', () => {
  it('prints the seed connection string as YAML that parseConfig loads, notes on stderr, no password', async () => {
    const c = capture();
    expect(await importCommand(['datadirect', DATADIRECT_SEED], c.io)).toBe(0);
    const cfg = parseConfig(c.stdout(), 'stdout');
    expect(cfg.profiles['docusign']!.issuer).toBe('1a2b3c4d5e_6f7g8h9g');
    expect(c.stdout()).not.toMatch(/\bsecret\b(?!s)/);
    expect(c.stderr()).toContain(
      'note: JWTCertPassword is not printed: set TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD',
    );
    expect(c.stderr()).toContain('note: ignored (not used by token-broker): DRIVER, RestConfigFile');
    expect(c.stderr()).not.toContain('=secret');
  });

  it('reads an odbc.ini section with --odbc-ini and --dsn, named by --profile', async () => {
    const c = capture();
    expect(
      await importCommand(
        ['datadirect', '--odbc-ini', 'odbc.ini', '--dsn', 'DocuSign', '--profile', 'sign'],
        c.io,
      ),
    ).toBe(0);
    const cfg = parseConfig(c.stdout(), 'stdout');
    expect(Object.keys(cfg.profiles)).toEqual(['sign']);
    expect(cfg.profiles['sign']!.certPassword).toBe('env:TOKEN_BROKER_SIGN_CERT_PASSWORD');
  });

  it('reads the connection string from stdin with "-" and prints secrets only with --include-secrets', async () => {
    const c = capture(DATADIRECT_SEED);
    expect(await importCommand(['datadirect', '-', '--include-secrets'], c.io)).toBe(0);
    expect(parseConfig(c.stdout(), 'stdout').profiles['docusign']!.certPassword).toBe('plain:secret');
    expect(c.stderr()).toContain('note: JWTCertPassword is written inline (--include-secrets)');
  });

  it('exits 2 with ERR_CONNECTION_STRING / ERR_AUTH_METHOD through main', async () => {
    const bad = capture();
    expect(await main(['import', 'datadirect', 'A={x'], bad.io)).toBe(2);
    expect(bad.stderr()).toBe(
      'token-broker: ERR_CONNECTION_STRING: connection string: unbalanced "{" in the value of A (at character 3)\n',
    );
    const method = capture();
    expect(await main(['import', 'datadirect', DATADIRECT_SEED.replace('=55', '=4')], method.io)).toBe(2);
    expect(method.stderr()).toBe(
      'token-broker: ERR_AUTH_METHOD: AuthenticationMethod "4" is not an OAuth 2.0 JWT bearer method; token-broker imports 55 (OAuth2-JWTBearer) or 24 (OAuth2)\n',
    );
  });

  it('exits 2 on usage mistakes', async () => {
    const c = capture();
    expect(await main(['import', 'odbc'], c.io)).toBe(2);
    expect(c.stderr()).toMatch(/^token-broker: usage: token-broker import datadirect/);
    const both = capture();
    expect(await main(['import', 'datadirect', DATADIRECT_SEED, '--odbc-ini', 'x'], both.io)).toBe(2);
    expect(both.stderr()).toBe(
      'token-broker: give a connection string or --odbc-ini F --dsn NAME; usage: token-broker import datadirect <connection-string | -> | --odbc-ini F --dsn NAME [--profile NAME] [--include-secrets] (see --help)\n',
    );
  });
});
