import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { EXAMPLES, startHarness, type Harness } from '../functions/harness.ts';

const ACCESS_KEY = 'AKIDLOCALTEST0001';
const SECRET = 'local-test-secret-access-key-0001';
const CALLER = 'arn:aws:sts::123456789012:assumed-role/billing-sigv4/session-1';

let harness: Harness;
let server: RunningServer;

beforeAll(async () => {
  harness = await startHarness({
    extraConfig: `server:\n  sigv4:\n    region: eu-west-1\n    credentials:\n      ${ACCESS_KEY}: { secret: env:TB_TEST_SIGV4_SECRET, caller: ${CALLER} }\n`,
  });
  server = await startServer({
    config: harness.config,
    broker: harness.broker,
    port: 0,
    secrets: createSecretResolver({ env: { TB_TEST_SIGV4_SECRET: SECRET }, cwd: EXAMPLES }),
  });
});
afterAll(async () => {
  await server?.close();
  await harness?.close();
});

async function signedPost(secretAccessKey: string): Promise<Response> {
  const url = new URL('/token', server.url);
  const body = JSON.stringify({ profile: 'billing' });
  const signer = new SignatureV4({
    service: 'execute-api',
    region: 'eu-west-1',
    sha256: Sha256,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey },
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/json' },
    body,
  });
  return fetch(url, { method: 'POST', headers: signed.headers, body });
}

describe('local server with server.sigv4', () => {
  it('serves a SigV4-signed caller as its IAM role, through the callers policy', async () => {
    const res = await signedPost(SECRET);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token_type: string }).token_type).toBe('Bearer');
  });

  it('refuses a wrong secret and an unsigned request with 403', async () => {
    const wrong = await signedPost(`${SECRET}x`);
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toEqual({
      error: 'forbidden',
      message:
        'SigV4 authentication failed: signature does not match; check the secret access key and that the request was not altered',
    });
    const unsigned = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"profile":"billing"}',
    });
    expect(unsigned.status).toBe(403);
    expect(((await unsigned.json()) as { message: string }).message).toBe(
      'the request carries no caller identity; sign it with IAM credentials (SigV4), or send an API key to the local server',
    );
  });
});
