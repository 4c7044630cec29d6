import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../../lib/cli/check.ts';
import { main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';

const FIXTURES = resolve(import.meta.dirname, '../fixtures/keystores');
const fixture = (name: string) => join(FIXTURES, name);
const PEM_PASSWORD = 'pä ss wörd ✓';

let dir: string;
let withCertExpiry: Date;

function capture(env: Record<string, string> = {}) {
  return captureIo({ env: { KEY_PASS: PEM_PASSWORD, JKS_PASS: 'changeit', ...env }, cwd: dir });
}

const GOOD = `profiles:
  docusign:
    provider: docusign-demo
    issuer: client-1
    subject: jsmith@example.com
    certStore: file:${fixture('pem-rsa2048-with-cert.pem')}
    redirectUri: https://broker.example.com:443/consent/callback
    callers: ["arn:aws:iam::123456789012:role/app"]
  java:
    tokenUri: https://auth.example.com/token
    issuer: client-2
    certStore: file:${fixture('java-rsa2048.jks')}
    certPassword: env:JKS_PASS
    callers: [cli]
  encrypted:
    provider: google
    issuer: sa@project.iam.gserviceaccount.com
    certStore: file:${fixture('pem-rsa2048-encrypted.pem')}
    certPassword: env:KEY_PASS
    certificate: file:${fixture('pem-rsa2048-encrypted.pem.cert.pem')}
    callers: [cli]
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-check-'));
  await writeFile(join(dir, 'good.yaml'), GOOD);
  await writeFile(
    join(dir, 'bad.yaml'),
    `profiles:
  expired:
    tokenUri: https://auth.example.com/token
    issuer: c
    certStore: file:${fixture('pem-expired.pem')}
    callers: [cli]
  wrongpass:
    provider: salesforce
    issuer: c
    audience: login.salesforce.com
    certStore: file:${fixture('java-rsa2048.jks')}
    certPassword: plain:not the password
    callers: [cli]
  missing:
    tokenUri: https://auth.example.com/token
    issuer: c
    certStore: file:nope.p12
    certPassword: env:NOT_SET
    callers: [cli]
`,
  );
  await writeFile(
    join(dir, 'invalid.yaml'),
    'profiles:\n  a:\n    issuer: x\n    certStore: file:k\n    tokenUri: PUT https://x.example.com\n',
  );
  const pem = await readFile(fixture('pem-rsa2048-with-cert.pem.cert.pem'), 'utf8');
  withCertExpiry = new Date(new X509Certificate(pem).validTo);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('token-broker check', () => {
  it('reports key algorithm, alias, certificate expiry and audience per profile; exit 0', async () => {
    const c = capture();
    const code = await check(['--config', 'good.yaml'], c.io, { now: new Date('2027-01-01T00:00:00Z') });
    const out = c.stdout();
    expect(c.stderr()).toBe('');
    expect(code).toBe(0);
    expect(out).toContain(`config ${join(dir, 'good.yaml')}: 3 profiles\n`);
    expect(out).toContain('profile docusign (docusign-demo): ok\n');
    expect(out).toMatch(/ {2}key: RSA 2048, signs RS256, alias "[^"]+" \(pem\)\n/);
    expect(out).toMatch(
      / {2}certificate: .*CN=pem-rsa2048-with-cert, expires \d{4}-\d\d-\d\d \(\d+ days\)\n/,
    );
    expect(out).toContain('  audience: "account-d.docusign.com" fits docusign-demo\n');
    expect(out).toContain('profile java (generic): ok\n');
    expect(out).toMatch(/ {2}key: RSA 2048, signs RS256, alias "[^"]+" \(jks\)\n/);
    expect(out).toContain('profile encrypted (google): ok\n');
    expect(out).toContain('  audience: "https://oauth2.googleapis.com/token" fits google\n');
    expect(out).not.toContain(PEM_PASSWORD);
    expect(out).not.toContain('changeit');
  });

  it('warns when the certificate expires within 30 days', async () => {
    const c = capture();
    const now = new Date(withCertExpiry.getTime() - 10 * 24 * 3600 * 1000 - 1000);
    expect(await check(['docusign', '--config', 'good.yaml'], c.io, { now })).toBe(0);
    expect(c.stdout()).toContain(
      `  warning: certificate: expires in 10 days (${withCertExpiry.toISOString().slice(0, 10)}); renew it soon\n`,
    );
  });

  it('reports what is wrong in one line each and exits 1', async () => {
    const c = capture();
    const code = await check(['--config', 'bad.yaml'], c.io, { now: new Date('2027-01-01T00:00:00Z') });
    const out = c.stdout();
    expect(code).toBe(1);
    expect(out).toContain('profile expired (generic): FAILED\n');
    expect(out).toMatch(
      / {2}error: certificate: expired on 2021-01-01 \(.*\); renew it and upload the new one to the provider\n/,
    );
    expect(out).toContain('profile wrongpass (salesforce): FAILED\n');
    expect(out).toContain(
      '  warning: certPassword: written inline (plain:); keep it in Secrets Manager instead\n',
    );
    expect(out).toMatch(
      new RegExp(
        ` {2}error: certStore \\(file:${fixture('java-rsa2048.jks').replace(/[.]/g, '\\.')}\\): ERR_KEYSTORE_PASSWORD: .+\n`,
      ),
    );
    expect(out).toContain(
      '  warning: audience: "login.salesforce.com" does not fit salesforce, which expects the login origin "https://login.salesforce.com" (or an Experience Cloud site URL)\n',
    );
    expect(out).toContain('profile missing (generic): FAILED\n');
    expect(out).toContain(
      '  error: certPassword: ERR_SECRET_REFERENCE: secret reference "env:NOT_SET": environment variable NOT_SET is not set\n',
    );
    expect(out).toContain(
      `  error: certStore: ERR_SECRET_REFERENCE: secret reference "file:nope.p12": no such file (${join(dir, 'nope.p12')})\n`,
    );
    expect(out).not.toContain('not the password');
  });

  it('exits 2 on an invalid config, printing each problem', async () => {
    const c = capture();
    expect(await check(['--config', 'invalid.yaml'], c.io)).toBe(2);
    expect(c.stderr()).toBe(
      'token-broker: ERR_CONFIG: profile "a": tokenUri: method must be GET or POST, got "PUT"\n',
    );
    const missing = capture();
    expect(await check([], missing.io)).toBe(2);
    expect(missing.stderr()).toBe(
      `token-broker: ERR_CONFIG_NOT_FOUND: no config file at ${join(dir, 'token-broker.yaml')} (the default; pass --config or set $TOKEN_BROKER_CONFIG)\n`,
    );
  });

  it('finds the config through $TOKEN_BROKER_CONFIG and exits 2 for an unknown profile', async () => {
    const c = capture({ TOKEN_BROKER_CONFIG: join(dir, 'good.yaml') });
    expect(await check(['nope'], c.io)).toBe(2);
    expect(c.stderr()).toBe('token-broker: unknown profile "nope"; profiles: docusign, java, encrypted\n');
  });

  it("resolves relative file: references against the config file's folder", async () => {
    await mkdir(join(dir, 'sub'), { recursive: true });
    await copyFile(fixture('pem-rsa2048-with-cert.pem'), join(dir, 'sub', 'key.pem'));
    await writeFile(
      join(dir, 'sub', 'relative.yaml'),
      'profiles:\n  rel:\n    tokenUri: https://auth.example.com/token\n    issuer: c\n    certStore: file:key.pem\n    callers: [cli]\n',
    );
    const c = capture();
    expect(
      await check(['--config', 'sub/relative.yaml'], c.io, { now: new Date('2027-01-01T00:00:00Z') }),
    ).toBe(0);
    expect(c.stdout()).toContain('profile rel (generic): ok\n');
  });

  it('runs through main with the profile filter', async () => {
    const c = capture();
    expect(await main(['check', 'java', '--config', 'good.yaml'], c.io)).toBe(0);
    expect(c.stdout()).toContain('profile java (generic): ok\n');
    expect(c.stdout()).not.toContain('profile docusign');
  });
});

describe('token-broker check --live', () => {
  let server: Server;
  let port: number;
  const forms: URLSearchParams[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        forms.push(form);
        res.setHeader('content-type', 'application/json');
        res.setHeader('cache-control', 'no-store');
        if (form.get('assertion')?.split('.').length !== 3) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'bad assertion' }));
          return;
        }
        const subject = JSON.parse(
          Buffer.from(form.get('assertion')!.split('.')[1]!, 'base64url').toString('utf8'),
        ).sub;
        if (subject === 'refused@example.com') {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'user not known' }));
          return;
        }
        res.end(
          JSON.stringify({ access_token: 'live-access-token-1', token_type: 'Bearer', expires_in: 3600 }),
        );
      });
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    port = (server.address() as AddressInfo).port;
    await writeFile(
      join(dir, 'live.yaml'),
      `profiles:
  ok:
    tokenUri: http://127.0.0.1:${port}/oauth/token
    issuer: client-live
    subject: jsmith@example.com
    certStore: file:${fixture('pem-rsa2048-with-cert.pem')}
  refused:
    tokenUri: http://127.0.0.1:${port}/oauth/token
    issuer: client-live
    subject: refused@example.com
    certStore: file:${fixture('pem-rsa2048-with-cert.pem')}
`,
    );
  });
  afterAll(async () => new Promise<void>((done) => server.close(() => done())));

  it('fetches a token per profile through the broker, shown by fingerprint only; exit 1 when one fails', async () => {
    const c = capture();
    const code = await check(['--config', 'live.yaml', '--live'], c.io);
    const out = c.stdout();
    expect(out).toContain('profile ok (generic): ok\n');
    expect(out).toMatch(/ {2}live: token [0-9a-f]{8} \(Bearer, expires in \d+ s\)\n/);
    expect(out).not.toContain('live-access-token-1');
    expect(out).toContain('profile refused (generic): FAILED\n');
    expect(out).toMatch(/ {2}error: live: ERR_UPSTREAM_REJECTED: .*invalid_grant.*\n/);
    expect(code).toBe(1);
    expect(forms.length).toBeGreaterThanOrEqual(2);
    expect(forms[0]!.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
  });

  it('with a profile name, checks only that profile live and exits 0', async () => {
    const c = capture();
    expect(await check(['ok', '--config', 'live.yaml', '--live'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/live: token [0-9a-f]{8}/);
  });
});
