/**
 * Secret-leak scan: runs every keystore format, the error paths, every route of the local
 * server and the CLI commands while capturing stdout, stderr, console, every log line and
 * every response body, then checks that none holds a password, a private key (PEM body, or
 * the PKCS#8 DER in base64, base64url or hex), an assertion, a DPoP proof or an access token
 * of the run.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { check } from '../../lib/cli/check.ts';
import type { CliIo } from '../../lib/cli/io.ts';
import { main } from '../../lib/cli/main.ts';
import { token as tokenCommand } from '../../lib/cli/token.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { BrokerError } from '../../lib/errors.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { hashApiKey } from '../../lib/server/caller.ts';
import { makeProof, proofKey } from '../support/dpop-proofs.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { DPOP_CLIENT_KEY, startDpopProvider, type DpopProvider } from '../support/dpop-provider.ts';
import { profileYaml, type ProfileSpec } from './harness.ts';
import {
  capturingLogger,
  fixture,
  fixturePath,
  manifestPasswords,
  manifestRows,
  reportTally,
} from './support.ts';

/** Everything the run wrote anywhere a person or a log pipeline could read it. */
const captured: string[] = [];
/**
 * Where a token is delivered on purpose (the 200 answer of `POST /token`, stdout of the
 * `token` command): scanned for every secret but the access tokens themselves.
 */
const delivered: string[] = [];
/** Secret values of the run, with a name saying what each is. */
const secrets = new Map<string, string>();
const addSecret = (what: string, value: string | undefined): void => {
  if (value !== undefined && value.length >= 6) secrets.set(value, what);
};
/** A value as sent, base64, base64url, percent- and form-encoded (each form that differs). */
const secretForms = (value: string): Record<string, string> => ({
  raw: value,
  base64: Buffer.from(value, 'utf8').toString('base64'),
  base64url: Buffer.from(value, 'utf8').toString('base64url'),
  percent: encodeURIComponent(value),
  form: new URLSearchParams({ v: value }).toString().slice(2),
});
const addSecretForms = (what: string, value: string): void => {
  for (const [form, text] of Object.entries(secretForms(value)))
    if (form === 'raw' || text !== value) addSecret(form === 'raw' ? what : `${what} (${form})`, text);
};

const logger = capturingLogger();
let dir: string;
let auth: AuthorizationServer;
let dpopProvider: DpopProvider;
let server: RunningServer;
let configFile: string;
let scenarios = 0;

const ENV = {
  JKS_PASS: 'changeit',
  P12_PASS: 'store pass with spaces',
  PEM_PASS: 'pä ss wörd ✓',
  JCEKS_PASS: 'store pass',
  JCEKS_KEY_PASS: 'key pass',
  WRONG_PASS: 'not the password',
};
const API_KEY = 'leak-scan-api-key-5d1e9a';
const SECURITY_TOKEN = 'st-leak-0a9f3e77c1';
/** Secret references of the `echo` profile: a `params` client secret and a secret header. */
const ECHO_ENV = { PARAM_SECRET: 'ps-leak/7c2e+41=9d&b5 a3~Q', ECHO_HEADER: 'eh-leak-6b1f08d2c4a9e3' };
/** The forms in which the `echo` provider repeats what it was sent, a group per request. */
const ECHO_GROUPS = [
  ['raw', 'base64'],
  ['base64url', 'percent', 'form'],
  ['cut', 'wrapped'],
] as const;
let echo: FaultServer;
const CONNECTION_PASSWORD = 'dd-password-3b8c41';

/** A fetch that records assertions sent and access tokens received, then passes both through. */
const recorder: typeof fetch = async (input, init) => {
  const params = new URLSearchParams(
    typeof init?.body === 'string' ? init.body : new URL(String(input)).search,
  );
  for (const name of ['assertion', 'client_assertion']) {
    const jwt = params.get(name);
    if (jwt) {
      addSecret('an assertion', jwt);
      addSecret('an assertion signature', jwt.split('.')[2]);
    }
  }
  const proof = new Headers(init?.headers).get('dpop');
  if (proof) {
    addSecret('a DPoP proof sent upstream', proof);
    addSecret('a DPoP proof signature', proof.split('.')[2]);
  }
  const response = await fetch(input, init);
  const body = await response
    .clone()
    .json()
    .catch(() => undefined);
  addSecret('an access token', (body as { access_token?: string } | undefined)?.access_token);
  return response;
};

function cliIo(): CliIo {
  return {
    stdout: (text) => void captured.push(text),
    stderr: (text) => void captured.push(text),
    readStdin: async () => ENV.JKS_PASS,
    env: { ...ENV, TOKEN_BROKER_CONFIG: configFile },
    cwd: dir,
  };
}

/** The profiles of the run: one per keystore format, a wrong password and a client the server does not know. */
function PROFILES(tokenUrl: string, dpopTokenUrl: string): string {
  const profile = (
    name: string,
    issuer: string,
    store: string,
    password: keyof typeof ENV,
    more: Partial<ProfileSpec> = {},
  ) =>
    profileYaml(name, {
      issuer,
      tokenUrl,
      subject: 'alice@example.com',
      certStore: `file:${fixturePath(store)}`,
      certPassword: `env:${password}`,
      callers: ['local', 'team-billing'],
      ...more,
    });
  return (
    'profiles:\n' +
    profile('jks', 'client-jks', 'java-rsa2048.jks', 'JKS_PASS') +
    profile('p12', 'client-p12', 'p12-keytool-spaces.p12', 'P12_PASS') +
    profile('pem', 'client-pem', 'pem-rsa2048-encrypted.pem', 'PEM_PASS', {
      extra: {
        grant: 'client-assertion',
        certificate: `file:${fixturePath('pem-rsa2048-encrypted.pem.cert.pem')}`,
      },
    }) +
    profile('jceks', 'client-jceks', 'java-keypass.jceks', 'JCEKS_PASS', {
      extra: { keyPassword: 'env:JCEKS_KEY_PASS', headers: '{ SecurityToken: "env:SECURITY_TOKEN" }' },
    }) +
    profile('wrongpass', 'client-jks', 'java-rsa2048.jks', 'WRONG_PASS', { callers: ['team-billing'] }) +
    profile('echo', 'client-jks', 'java-rsa2048.jks', 'JKS_PASS', {
      tokenUrl: echo.url,
      callers: ['team-billing'],
      extra: {
        params: '{ client_secret: "env:PARAM_SECRET" }',
        headers: '{ X-Echo-Key: "env:ECHO_HEADER" }',
      },
    }) +
    profile('rejected', 'client-unknown', 'java-rsa2048.jks', 'JKS_PASS', { callers: ['team-billing'] }) +
    profileYaml('dpop', {
      issuer: 'dpop-client',
      tokenUrl: dpopTokenUrl,
      certStore: `file:${DPOP_CLIENT_KEY}`,
      callers: ['team-billing'],
      extra: { grant: 'client-assertion', dpop: 'required' },
    }) +
    `server:\n  apiKeys: { "${hashApiKey(API_KEY)}": team-billing }\n`
  );
}

beforeAll(async () => {
  // Capture (and still pass through) everything written to the process's streams and console.
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      captured.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write);
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation(
      (...args: unknown[]) => void captured.push(args.map(String).join(' ')),
    );
  }
  for (const password of manifestPasswords()) addSecret('a keystore password', password);
  for (const value of Object.values(ENV)) addSecret('a password', value);
  addSecretForms('an API key', API_KEY);
  addSecretForms('a security token', SECURITY_TOKEN);
  addSecretForms('a params secret', ECHO_ENV.PARAM_SECRET);
  addSecretForms('a secret header', ECHO_ENV.ECHO_HEADER);
  addSecret('a params secret (cut)', ECHO_ENV.PARAM_SECRET.slice(0, 14));
  addSecret('a secret header (cut)', ECHO_ENV.ECHO_HEADER.slice(0, 14));
  // A provider repeating the params secret and the secret header it received, in every form.
  let echoed = 0;
  echo = await startFaultServer([
    (req, res, body) => {
      const forms = (value: string): Record<string, string> => ({
        ...secretForms(value),
        cut: `${value.slice(0, 14)}…`,
        wrapped: `${value.slice(0, 9)}\n  ${value.slice(9, 20)}\r\n${value.slice(20)}`,
      });
      const secret = forms(new URLSearchParams(body).get('client_secret') ?? '');
      const header = forms(String(req.headers['x-echo-key'] ?? ''));
      const group = ECHO_GROUPS[echoed++ % ECHO_GROUPS.length]!;
      const description = group.map((f) => `${f} client_secret=${secret[f]} key=${header[f]}`).join('; ');
      res.writeHead(echoed % 2 === 0 ? 400 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `invalid_client ${secret['raw']}`, error_description: description }));
    },
  ]);
  addSecret('a connection-string password', CONNECTION_PASSWORD);

  dir = await mkdtemp(join(tmpdir(), 'tb-leak-'));
  const cert = (name: string) => fixture(name).toString('utf8');
  auth = await startAuthorizationServer({
    clients: [
      { clientId: 'client-jks', certificatePem: cert('java-rsa2048.jks.signer.cert.pem') },
      { clientId: 'client-p12', certificatePem: cert('p12-keytool-spaces.p12.signer.cert.pem') },
      { clientId: 'client-pem', certificatePem: cert('pem-rsa2048-encrypted.pem.cert.pem') },
      {
        clientId: 'client-jceks',
        certificatePem: cert('java-keypass.jceks.signer.cert.pem'),
        requiredHeaders: { SecurityToken: SECURITY_TOKEN },
      },
    ],
  });
  dpopProvider = await startDpopProvider();
  configFile = join(dir, 'token-broker.yaml');
  await writeFile(configFile, PROFILES(auth.tokenUrl, dpopProvider.tokenUrl));
  const config = parseConfig(PROFILES(auth.tokenUrl, dpopProvider.tokenUrl), configFile);
  server = await startServer({
    config,
    port: 0,
    logger,
    secrets: createSecretResolver({ env: { ...ENV, SECURITY_TOKEN, ...ECHO_ENV }, cwd: dir }),
    fetch: recorder,
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await server?.close();
  await auth?.close();
  await dpopProvider?.close();
  await echo?.close();
  await rm(dir, { recursive: true, force: true });
  reportTally('leak-scan', { badInputs: 0, fuzzCases: 0, faults: 0 });
});

/** Adds every textual form of a private key to the secrets. */
function addKeyForms(label: string, der: Buffer, pem: string): void {
  const base64 = der.toString('base64');
  const hex = der.toString('hex');
  addSecret(`${label} (DER base64)`, base64);
  addSecret(`${label} (DER base64url)`, der.toString('base64url'));
  addSecret(`${label} (DER hex)`, hex);
  // A partial dump gives a key away too: a window from the private part of the encoding.
  addSecret(`${label} (DER base64, partial)`, base64.slice(60, 120));
  addSecret(`${label} (DER base64url, partial)`, der.toString('base64url').slice(60, 120));
  addSecret(`${label} (DER hex, partial)`, hex.slice(120, 240));
  const body = pem.split('\n').filter((line) => line !== '' && !line.startsWith('-----'));
  addSecret(`${label} (PEM body)`, body.join('\n'));
  for (const line of body.slice(1, -1)) addSecret(`${label} (PEM line)`, line);
}

describe('leak scan', () => {
  it('opens and lists every keystore of every manifest, and inspects each with the CLI', async () => {
    const inspected = new Set<string>();
    for (const row of manifestRows()) {
      const options = {
        ...(row.password !== undefined && { password: row.password }),
        ...(row.keyPassword !== undefined && { keyPassword: row.keyPassword }),
        ...(row.alias !== undefined && { alias: row.alias }),
        ...(row.certBeside !== undefined && { certificate: fixture(row.certBeside) }),
      };
      try {
        const key = await openKeystore(fixture(row.file), options);
        captured.push(...key.warnings, key.alias, String(key.x5tS256));
        addKeyForms(
          `the private key of ${row.file}`,
          key.privateKey.export({ type: 'pkcs8', format: 'der' }),
          key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        );
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        captured.push(err.message, JSON.stringify(err.details));
      }
      scenarios += 1;
      const how = `${row.file}\u0000${row.password ?? ''}`;
      if (inspected.has(how)) continue;
      inspected.add(how);
      // `keystore inspect` lists the store (JSON and table); a JCEKS listing derives each key
      // (hundreds of milliseconds), so those are listed once, as JSON.
      const argv = ['keystore', 'inspect', fixturePath(row.file)];
      if (row.password !== undefined) argv.push('--password', row.password);
      await main([...argv, '--json'], cliIo());
      if (!row.file.endsWith('.jceks')) await main(argv, cliIo());
      scenarios += 2;
    }
    expect(inspected.size).toBeGreaterThan(40);
  });

  it('calls every route of the local server, on success and error paths', async () => {
    const auth_ = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    const requests: Array<[string, RequestInit]> = [
      ['/health', { headers: auth_ }],
      ['/health', {}],
      ['/nowhere', { headers: auth_ }],
      ...['jks', 'p12', 'pem', 'jceks', 'wrongpass', 'rejected', 'nope'].map(
        (profile) =>
          ['/token', { method: 'POST', headers: auth_, body: JSON.stringify({ profile }) }] as [
            string,
            RequestInit,
          ],
      ),
      [
        '/token',
        {
          method: 'POST',
          headers: auth_,
          body: JSON.stringify({ profile: 'jks', subject: 'eve@x.example' }),
        },
      ],
      ['/token', { method: 'POST', headers: auth_, body: JSON.stringify({ profile: 'jks' }) }],
      ['/token', { method: 'POST', headers: auth_, body: `{"profile":"jks","junk":"${ENV.JKS_PASS}"` }],
      [
        '/token',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ profile: 'jks' }),
        },
      ],
      [
        '/token',
        {
          method: 'POST',
          headers: { ...auth_, authorization: `Bearer ${API_KEY}x` },
          body: '{"profile":"jks"}',
        },
      ],
    ];
    const statuses: number[] = [];
    for (const [path, init] of requests) {
      const res = await fetch(`${server.url}${path}`, init);
      statuses.push(res.status);
      const text = await res.text();
      res.headers.forEach((value, name) => void captured.push(`${name}: ${value}`));
      (path === '/token' && res.status === 200 ? delivered : captured).push(text);
      scenarios += 1;
    }
    // Tokens were issued (so there was something to leak) and every error path was taken.
    expect(statuses).toEqual([200, 403, 404, 200, 200, 200, 200, 500, 502, 404, 403, 200, 400, 403, 403]);
    // The echo provider repeats the params secret and the secret header: one request per group of forms.
    const before = echo.count();
    for (const _group of ECHO_GROUPS) {
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: auth_,
        body: JSON.stringify({ profile: 'echo' }),
      });
      expect(res.status).toBe(502);
      const text = await res.text();
      expect(text).toContain('client_secret=[redacted]');
      captured.push(text);
      scenarios += 1;
    }
    expect(echo.count() - before).toBe(ECHO_GROUPS.length);
    // The browser-facing consent routes, on their refusal paths (these profiles have no consent step).
    const consent: string[] = [
      `/consent/jks?subject=${encodeURIComponent(ENV.JKS_PASS)}`,
      '/consent/nope?subject=a@example.com',
      `/consent/callback?code=${encodeURIComponent(ENV.JKS_PASS)}&state=v1.e30.AAAA`,
      '/consent/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    ];
    for (const path of consent) {
      const res = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      const text = await res.text();
      expect(text, path).not.toContain('<script>');
      res.headers.forEach((value, name) => void captured.push(`${name}: ${value}`));
      captured.push(text);
      scenarios += 1;
    }
  });

  it('sends DPoP proofs on every path: accepted, nonce asked, replayed, mismatched, private, missing, unwanted', async () => {
    const key = await proofKey();
    const htu = dpopProvider.tokenUrl;
    const proof = async (options: Partial<Parameters<typeof makeProof>[1]> = {}) => {
      const made = await makeProof(key, { htu, ...options });
      addSecret('a DPoP proof', made);
      addSecret('a DPoP proof signature', made.split('.')[2]);
      return made;
    };
    const { privateKey } = await (await import('jose')).generateKeyPair('ES256', { extractable: true });
    const privateJwk = await (await import('jose')).exportJWK(privateKey);
    addSecret('a private key in a DPoP header', privateJwk.d);
    const accepted = await proof();
    dpopProvider.requireNonce = true;
    const withoutNonce = await proof();
    const cases: Array<[string, string | undefined, number]> = [
      ['dpop', withoutNonce, 400],
      ['dpop', accepted, 400], // with nonces required, refused upstream as well
      ['dpop', accepted, 400], // replayed
      ['dpop', await proof({ htu: `${htu}/elsewhere` }), 400],
      ['dpop', await proof({ header: { jwk: privateJwk } }), 400],
      ['dpop', `${await proof()},${await proof()}`, 400],
      ['dpop', undefined, 400],
      ['jks', await proof(), 400],
    ];
    const seen: number[] = [];
    let nonce: string | null = null;
    for (const [profile, dpop, status] of cases) {
      const res = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${API_KEY}`,
          'content-type': 'application/json',
          ...(dpop === undefined ? {} : { dpop }),
        },
        body: JSON.stringify({ profile }),
      });
      seen.push(res.status);
      expect(res.status, `${profile} ${status}`).toBe(status);
      nonce ??= res.headers.get('dpop-nonce');
      res.headers.forEach((value, name) => void captured.push(`${name}: ${value}`));
      captured.push(await res.text());
      scenarios += 1;
    }
    expect(nonce).toMatch(/^[\w-]+$/);
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        dpop: await proof({ nonce: nonce ?? '' }),
      },
      body: JSON.stringify({ profile: 'dpop' }),
    });
    expect(res.status).toBe(200);
    res.headers.forEach((value, name) => void captured.push(`${name}: ${value}`));
    delivered.push(await res.text());
    dpopProvider.requireNonce = false;
    scenarios += 1;
  });

  it('runs the CLI: keystore inspect from stdin, import datadirect, check --live and token', async () => {
    const io = cliIo();
    expect(await main(['keystore', 'inspect', fixturePath('java-rsa2048.jks'), '--password-stdin'], io)).toBe(
      0,
    );
    expect(
      await main(
        ['keystore', 'inspect', fixturePath('java-rsa2048.jks'), '--password-env', 'WRONG_PASS'],
        io,
      ),
    ).toBe(1);
    const connection =
      `ClaimsIssuer=c1;JWTCertStore=${fixturePath('java-rsa2048.jks')};JWTCertPassword=${CONNECTION_PASSWORD};` +
      `TokenURI=https://account-d.docusign.com/oauth/token;AuthHeader=SecurityToken;SecurityToken=${SECURITY_TOKEN}`;
    expect(await main(['import', 'datadirect', connection], io)).toBe(0);
    expect(await main(['import', 'datadirect', `${connection};JWTCertPassword={unbalanced`], io)).toBe(2);
    const checked = await check(
      ['--config', configFile, '--live'],
      { ...io, env: { ...io.env, SECURITY_TOKEN, ...ECHO_ENV } },
      { fetch: recorder },
    );
    expect(checked).toBe(1); // the wrongpass and rejected profiles fail, the others pass
    // The token command prints the token on stdout: that is its delivery channel.
    const tokenIo = { ...io, stdout: (text: string) => void delivered.push(text) };
    for (const profile of ['jks', 'p12', 'pem', 'wrongpass', 'rejected'])
      await tokenCommand([profile, '--config', configFile], tokenIo, { fetch: recorder });
    expect(delivered.filter((text) => text.includes('"access_token"')).length).toBeGreaterThanOrEqual(8);
    scenarios += 10;
  });

  it('runs the config-error paths with secrets written inline: parse, load, check and serve', async () => {
    const inline = {
      certPassword: 'inline-cert-Pa55word',
      keyPassword: 'inline-key-Pa55word',
      clientSecret: 'inline-client-s3cret',
      sealKey: 'inline-seal-key-0f9e8d',
      stateKey: 'inline-state-key-7c6b5a',
      sigv4: 'inline-sigv4-secret-4e3d',
      urlPassword: 'url-Pa55word-9a8b',
    };
    for (const [what, value] of Object.entries(inline)) addSecret(`an inline ${what}`, value);
    const base = (name: string, extra: string, tokenUri = 'https://auth.example.com/oauth/token') =>
      `  ${name}:\n    issuer: c1\n    certStore: file:./k.pem\n    tokenUri: ${tokenUri}\n${extra}`;
    const user = `deploy:${inline.urlPassword}@`;
    const texts = [
      `profiles:\n${base('a', `    certPassword: ${inline.certPassword}\n    keyPassword: "${inline.keyPassword}"\n`)}`,
      `profiles:\n${base('a', `    clientSecret: ${inline.clientSecret}\n`)}cache:\n  sealKey: ${inline.sealKey}\nconsent:\n  stateKey: ${inline.stateKey}\n`,
      `profiles:\n${base('a', '')}server:\n  sigv4:\n    region: eu-west-1\n    credentials: { AKIDLEAKSCAN00001: { secret: ${inline.sigv4}, caller: "arn:aws:iam::123456789012:role/x" } }\n`,
      ...[
        `ftp://${user}auth.example.com/t`,
        `https://${user}auth.example.com/t`,
        `http://${user}auth.example.com/t`,
        `https://${user}[broken/t`,
        `PUT https://${user}auth.example.com/t`,
        `GET  https://${user}a.example.com/t extra`,
        `https://${user}auth.example.com/t#frag`,
      ].map((uri) => `profiles:\n${base('a', '', uri)}`),
      `profiles:\n${base('a', `    redirectUri: https://${user}broker.example.com/consent/callback\n    authUri: ftp://${user}a.example.com/authorize\n`)}`,
      `profiles:\n${base('a', '')}cache:\n  endpoint: ftp://${user}localhost:8000\nconsent:\n  baseUrl: https://${user}broker.example.com:x/\n`,
      `profiles:\n${base('a', `    headers: { X-Key: "env:${inline.certPassword}" }\n`)}`,
    ];
    let failures = 0;
    for (const [i, text] of texts.entries()) {
      try {
        parseConfig(text, `leak-${i}.yaml`);
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        captured.push(err.message, JSON.stringify(err.details));
        failures += 1;
      }
      const file = join(dir, `leak-${i}.yaml`);
      await writeFile(file, text);
      expect(await main(['check', '--config', file], cliIo())).toBe(2);
      expect(await main(['serve', '--config', file, '--port', '0'], cliIo())).toBe(2);
      expect(await main(['token', 'a', '--config', file], cliIo())).toBe(2);
      scenarios += 4;
    }
    expect(failures).toBe(texts.length);
  });

  it('finds no password, private key, assertion or access token in anything captured', () => {
    const kinds = new Set(secrets.values());
    expect([...kinds].filter((k) => k === 'an assertion' || k === 'an access token')).toHaveLength(2);
    expect([...kinds].filter((k) => k.startsWith('a DPoP proof'))).toHaveLength(3);
    expect([...kinds].some((k) => k.endsWith('(DER hex)'))).toBe(true);
    const haystack = [...captured, logger.text()].join('\n\u0000\n');
    const deliveredText = delivered.join('\n\u0000\n');
    const found: string[] = [];
    for (const [value, what] of secrets) {
      // Passwords are words: "key pass" inside "wrong key password" is not a leak of it.
      const pattern = what.endsWith('password')
        ? new RegExp(
            `(?<![\\p{L}\\p{N}])${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}])`,
            'u',
          )
        : undefined;
      const search = (text: string) => (pattern ? (pattern.exec(text)?.index ?? -1) : text.indexOf(value));
      if (what !== 'an access token' && search(deliveredText) >= 0)
        found.push(`${what} in a delivered token answer`);
      const at = search(haystack);
      // Say what leaked and where, without printing the secret itself.
      if (at >= 0) found.push(`${what} near ${JSON.stringify(haystack.slice(Math.max(0, at - 60), at))}`);
    }
    expect(found).toEqual([]);
    expect(scenarios).toBeGreaterThan(200);
  });
});
