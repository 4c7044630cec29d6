/**
 * End to end: the client against `token-broker serve` configured to require SigV4
 * (`server.sigv4`), in front of the development authorization server. The server checks
 * signatures with fixed test credentials and never calls AWS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_MESSAGE } from '../../lib/broker/audit.ts';
import { TokenBrokerClient, TokenBrokerError } from '../../lib/client/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { ACCESS_KEY_ID, CALLER_ARN, credentials, REGION } from './sigv4-fixtures.ts';
import { serveListening } from '../support/fleet.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DEMO = join(ROOT, 'examples/local');
const SECRET_ENV = 'TEST_BROKER_SIGV4_SECRET';

let authorization: AuthorizationServer;
let dir: string;
let serve: ChildProcess;
let endpoint: string;
let stderr = '';

function config(tokenUrl: string): string {
  return `profiles:
  demo:
    provider: generic
    issuer: demo-client
    subject: demo-user@example.com
    subjects: ['*@example.com']
    tokenUri: POST ${tokenUrl}
    audience: token-broker-demo
    scope: read write
    certStore: file:${join(DEMO, 'demo-keystore.jks')}
    certStoreType: jks
    certPassword: file:${join(DEMO, 'demo-keystore.password')}
    certAlias: demo
    callers: ['arn:aws:iam::123456789012:role/billing-*']
server:
  sigv4:
    region: ${REGION}
    credentials:
      ${ACCESS_KEY_ID}: { secret: 'env:${SECRET_ENV}', caller: '${CALLER_ARN}' }
`;
}

beforeAll(async () => {
  authorization = await startAuthorizationServer({
    clients: [
      { clientId: 'demo-client', certificatePem: await readFile(join(DEMO, 'demo-cert.pem'), 'utf8') },
    ],
    audience: ['token-broker-demo'],
    tokenTtl: 600,
  });
  dir = await mkdtemp(join(tmpdir(), 'token-broker-client-'));
  const file = join(dir, 'token-broker.yaml');
  await writeFile(file, config(authorization.tokenUrl));
  serve = spawn(
    process.execPath,
    [join(ROOT, 'bin/token-broker.js'), 'serve', '--config', file, '--port', '0'],
    {
      cwd: dir,
      env: {
        PATH: process.env['PATH'],
        TOKEN_BROKER_DEBUG: '1',
        [SECRET_ENV]: (await credentials()()).secretAccessKey,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  serve.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  endpoint = await serveListening(serve, () => stderr);
});

afterAll(async () => {
  if (serve?.exitCode === null) {
    const exited = new Promise((done) => serve.once('exit', done));
    serve.kill('SIGTERM');
    await exited;
  }
  await authorization?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('TokenBrokerClient against token-broker serve with server.sigv4', () => {
  it('is refused with 403 forbidden when signing with a wrong secret', async () => {
    const client = new TokenBrokerClient({
      endpoint,
      region: REGION,
      credentials: credentials('wrong-secret'),
    });
    const err: unknown = await client.getToken({ profile: 'demo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenBrokerError);
    expect(err).toMatchObject({ code: 'forbidden', status: 403 });
    expect((err as Error).message).toBe(
      'SigV4 authentication failed: signature does not match; check the secret access key and that the request was not altered',
    );
    expect(authorization.requestCount()).toBe(0);
  });

  it('gets a real token with the right secret, and serves the second call from memory', async () => {
    const client = new TokenBrokerClient({ endpoint, region: REGION, credentials: credentials() });
    const token = await client.getToken({ profile: 'demo', scope: 'read' });
    expect(token).toMatchObject({ tokenType: 'Bearer', scope: 'read' });
    expect(token.expiresIn).toBeGreaterThan(500);
    expect(authorization.introspect(token.accessToken)).toMatchObject({
      clientId: 'demo-client',
      subject: 'demo-user@example.com',
    });
    await expect(client.getToken({ profile: 'demo', scope: 'read' })).resolves.toEqual(
      expect.objectContaining({ accessToken: token.accessToken }),
    );
    expect(authorization.requestCount()).toBe(1);
  });

  it('logs one line per token request, its audit line, and no access line without --access-log', async () => {
    // A client per request: a client answers a repeated request from its own cache.
    const client = () => new TokenBrokerClient({ endpoint, region: REGION, credentials: credentials() });
    const subject = 'log-check@example.com';
    const lines = () =>
      stderr
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { message: string; subject?: string });
    const audits = () => lines().filter((l) => l.message === AUDIT_MESSAGE && l.subject === subject).length;
    // The server writes its log once per event-loop turn: wait for a request's line, boundedly.
    const settled = async (count: number) => {
      for (let turn = 0; turn < 150 && audits() < count; turn++)
        await new Promise((done) => setTimeout(done, 20));
    };
    await client().getToken({ profile: 'demo', subject, scope: 'read' });
    await settled(1);
    // A second request (a hit): by its line, every line of the first has been written.
    await client().getToken({ profile: 'demo', subject, scope: 'read' });
    await settled(2);
    expect(audits()).toBe(2);
    expect(lines().map((l) => l.message)).not.toContain('request');
  });

  it('gets unknown_profile for a profile the server does not have', async () => {
    const client = new TokenBrokerClient({ endpoint, region: REGION, credentials: credentials() });
    const err: unknown = await client.getToken({ profile: 'nope' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'unknown_profile', status: 404 });
    expect((err as Error).message).toBe(
      'unknown profile "nope"; ask for a profile the broker\'s configuration defines',
    );
  });
});
