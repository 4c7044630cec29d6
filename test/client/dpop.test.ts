/**
 * End to end with DPoP: the client (`dpop: true`) against the local server requiring
 * SigV4, in front of oidc-provider with DPoP nonces required. The client's own key is
 * the one the provider binds the token to; the broker never holds it.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBrokerClient } from '../../lib/client/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import type { Logger, LogFields } from '../../lib/types.ts';
import { DPOP_CLIENT_KEY, startDpopProvider, type DpopProvider } from '../support/dpop-provider.ts';
import { ACCESS_KEY_ID, CALLER_ARN, credentials, REGION } from './sigv4-fixtures.ts';

const SECRET_ENV = 'TEST_BROKER_SIGV4_SECRET';

let provider: DpopProvider;
let server: RunningServer;
const logs: { message: string; fields: LogFields | undefined }[] = [];
const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: LogFields) => void logs.push({ message, fields }),
  ]),
) as unknown as Logger;

beforeAll(async () => {
  provider = await startDpopProvider();
  const config = parseConfig(
    `profiles:
  bound:
    issuer: dpop-client
    grant: client-assertion
    tokenUri: POST ${provider.tokenUrl}
    certStore: file:${DPOP_CLIENT_KEY}
    scope: api:read
    dpop: required
    callers: ['${CALLER_ARN}']
server:
  sigv4:
    region: ${REGION}
    credentials:
      ${ACCESS_KEY_ID}: { secret: 'env:${SECRET_ENV}', caller: '${CALLER_ARN}' }
`,
    'dpop.yaml',
  );
  server = await startServer({
    config,
    port: 0,
    logger,
    env: { [SECRET_ENV]: (await credentials()()).secretAccessKey },
  });
});
afterAll(async () => {
  await server?.close();
  await provider?.close();
});
beforeEach(() => {
  provider.requireNonce = true;
});

/** `POST /token` requests the local server answered. */
const brokerRequests = () =>
  logs.filter((l) => l.message === 'request' && l.fields?.['route'] === 'POST /token').length;

const dpopClient = () =>
  new TokenBrokerClient({ endpoint: server.url, region: REGION, credentials: credentials(), dpop: true });

/** The thumbprint of the key a client signs its proofs with, read from one of its proofs. */
async function thumbprintOf(client: TokenBrokerClient): Promise<string> {
  const { jwk } = decodeProtectedHeader(await client.proof('GET', 'https://api.example.com/'));
  return calculateJwkThumbprint(jwk as JWK);
}

describe('TokenBrokerClient with dpop: true', () => {
  it('learns the endpoint, passes the nonce round trip and gets a token bound to its own key', async () => {
    const client = dpopClient();
    const before = provider.tokenRequests();
    const token = await client.getToken({ profile: 'bound' });
    expect(token).toMatchObject({ tokenType: 'DPoP', scope: 'api:read' });
    expect(await provider.boundTo(token.accessToken)).toBe(await thumbprintOf(client));
    // One refused for want of a nonce, one with it.
    expect(provider.tokenRequests() - before).toBe(2);

    await expect(client.getToken({ profile: 'bound' })).resolves.toMatchObject({
      accessToken: token.accessToken,
    });
    expect(provider.tokenRequests() - before).toBe(2);
  });

  it('gives another client instance, with another key, its own token', async () => {
    const [first, second] = [dpopClient(), dpopClient()];
    const a = await first.getToken({ profile: 'bound' });
    const before = brokerRequests();
    const b = await second.getToken({ profile: 'bound' });
    // Nothing learned by the first client's key is reused: its own probe and nonce round trip.
    expect(brokerRequests() - before).toBe(3);
    expect(b.accessToken).not.toBe(a.accessToken);
    const [ta, tb] = [await thumbprintOf(first), await thumbprintOf(second)];
    expect(ta).not.toBe(tb);
    expect(await provider.boundTo(a.accessToken)).toBe(ta);
    expect(await provider.boundTo(b.accessToken)).toBe(tb);
  });

  it('keeps the endpoint and nonce it learned: the next request to the broker is the only one', async () => {
    const client = dpopClient();
    const before = brokerRequests();
    const token = await client.getToken({ profile: 'bound' });
    // A probe that learns the endpoint, a proof refused for want of a nonce, one with it.
    expect(brokerRequests() - before).toBe(3);
    client.clear();
    await expect(client.getToken({ profile: 'bound' })).resolves.toMatchObject({
      accessToken: token.accessToken,
      tokenType: 'DPoP',
    });
    expect(brokerRequests() - before).toBe(4);
  });

  it('signs resource proofs with htm, htu without query, a fresh jti and ath of the token', async () => {
    const client = dpopClient();
    const token = await client.getToken({ profile: 'bound' });
    const proof = await client.proof('GET', 'https://api.example.com/v1/items?page=2#top', token.accessToken);
    const again = await client.proof('GET', 'https://api.example.com/v1/items', token.accessToken);
    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'dpop+jwt' });
    expect(Object.keys(protectedHeader.jwk ?? {}).sort()).toEqual(['crv', 'kty', 'x', 'y']);
    expect(payload).toMatchObject({
      htm: 'GET',
      htu: 'https://api.example.com/v1/items',
      ath: createHash('sha256').update(token.accessToken).digest('base64url'),
    });
    expect(Math.abs((payload.iat ?? 0) - Date.now() / 1000)).toBeLessThan(5);
    expect((await jwtVerify(again, EmbeddedJWK)).payload.jti).not.toBe(payload.jti);
  });

  it('makes its key with WebCrypto as a non-extractable ES256 key pair', async () => {
    const generate = vi.spyOn(crypto.subtle, 'generateKey');
    try {
      const client = dpopClient();
      await client.proof('GET', 'https://api.example.com/');
      expect(generate).toHaveBeenCalledTimes(1);
      expect(generate.mock.calls[0]?.slice(0, 2)).toEqual([{ name: 'ECDSA', namedCurve: 'P-256' }, false]);
      const pair = (await generate.mock.results[0]?.value) as CryptoKeyPair;
      expect(pair.privateKey.extractable).toBe(false);
    } finally {
      generate.mockRestore();
    }
  });

  it('refuses proof() on a client made without dpop', async () => {
    const client = new TokenBrokerClient({
      endpoint: server.url,
      region: REGION,
      credentials: credentials(),
    });
    await expect(client.proof('GET', 'https://api.example.com/')).rejects.toThrow(
      new TypeError('proof: make the client with dpop: true'),
    );
  });

  it('never logs a proof or an access token', async () => {
    const client = dpopClient();
    const token = await client.getToken({ profile: 'bound' });
    const text = JSON.stringify(logs);
    expect(logs.length).toBeGreaterThan(0);
    expect(text).not.toContain(token.accessToken);
    expect(text).not.toMatch(/eyJ[\w-]{10,}\.eyJ/);
  });
});
