/**
 * Import and check agree on consent: the DocuSign seed connection string imports, and
 * `check` on the result names the one thing left to do before the consent step works.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { DATADIRECT_SEED } from '../config/helpers.ts';
import { captureIo } from '../support/cli-io.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/keystores');
let dir: string;
const env = { TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD: 'changeit', TOKEN_BROKER_DOCUSIGN_SECURITY_TOKEN: 'code' };
const REDIRECT_LINE =
  '  error: redirectUri: not set, so the consent step cannot work; register https://<your broker>:443/consent/callback with the provider as the redirect URI and set redirectUri to it\n';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-import-consent-'));
  // The seed's JWTCertStore=jwtcert.jks, made real: a keytool JKS fixture under that name.
  await copyFile(join(FIXTURES, 'java-rsa2048.jks'), join(dir, 'jwtcert.jks'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function importSeed(seed = DATADIRECT_SEED): Promise<string> {
  const c = captureIo({ env, cwd: dir });
  expect(await main(['import', 'datadirect', seed], c.io)).toBe(0);
  return c.stdout();
}

async function checkYaml(yaml: string) {
  const path = join(dir, 'imported.yaml');
  await writeFile(path, yaml);
  const c = captureIo({ env, cwd: dir });
  const code = await main(['check', '--config', path], c.io);
  return { code, out: c.stdout() };
}

describe('import datadirect, then check', () => {
  it('imports the DocuSign seed with its RedirectURI as a comment, and check names the one consent step left', async () => {
    const yaml = await importSeed();
    expect(yaml).toContain(
      '  # DataDirect RedirectURI was http://localhost:3000 (its own listener; not imported)\n',
    );
    expect(yaml).not.toMatch(/redirectUri:/);
    const { code, out } = await checkYaml(yaml);
    expect(code).toBe(1);
    expect(out).toContain('profile docusign (docusign-demo): FAILED\n');
    expect(out.split('\n').filter((line) => line.startsWith('  error: '))).toEqual([REDIRECT_LINE.trimEnd()]);
    expect(out).toMatch(/ {2}key: RSA 2048, signs RS256, alias "[^"]+" \(jks\)\n/);
  });

  it('keeps a RedirectURI that already is the broker callback, and check is then ok', async () => {
    const yaml = await importSeed(
      DATADIRECT_SEED.replace('http://localhost:3000', 'https://broker.example.com:443/consent/callback'),
    );
    expect(yaml).toContain('    redirectUri: https://broker.example.com:443/consent/callback\n');
    const { code, out } = await checkYaml(yaml);
    expect(out).toContain('profile docusign (docusign-demo): ok\n');
    expect(code).toBe(0);
  });

  it('reports a redirectUri that is not the broker callback as an error, not ok', async () => {
    const yaml = (await importSeed()).replace(
      '    provider: docusign-demo\n',
      '    provider: docusign-demo\n    redirectUri: http://localhost:3000\n',
    );
    const { code, out } = await checkYaml(yaml);
    expect(code).toBe(1);
    expect(out).toContain(
      "  error: redirectUri: http://localhost:3000/ is not the broker's callback, so the consent step cannot work; set it to https://<your broker>:443/consent/callback and register that with the provider\n",
    );
  });
});

describe('check and params', () => {
  it('resolves secret references in params and names the one that fails, never a value', async () => {
    const yaml = (
      await importSeed(
        DATADIRECT_SEED.replace('http://localhost:3000', 'https://broker.example.com:443/consent/callback'),
      )
    ).replace(
      '    provider: docusign-demo\n',
      '    provider: docusign-demo\n    params: { client_secret: env:NOT_SET_SECRET, audience_hint: plain-text }\n',
    );
    const { code, out } = await checkYaml(yaml);
    expect(code).toBe(1);
    expect(out).toContain(
      '  error: params.client_secret: ERR_SECRET_REFERENCE: secret reference "env:NOT_SET_SECRET": environment variable NOT_SET_SECRET is not set\n',
    );
  });
});
