/**
 * google-wif's generateAccessToken step against a loopback peer answering Google's error
 * shape: what a refusal repeats of the answer reaches callers and logs, so it is one line,
 * bounded, and never the federated token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamRejected } from '../../lib/errors.ts';
import { impersonate } from '../../lib/exchange/impersonate.ts';

const FEDERATED = 'ya29.federated-token-0123456789abcdefghijklmnopqrstuvwxyz';
let server: Server;
let url: string;
let answer: { status: number; body: string };
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const call = () =>
  impersonate({
    settings: { serviceAccount: 'sa@p.iam.gserviceaccount.com', lifetime: 3600, url },
    federatedToken: FEDERATED,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  });

describe('impersonate (generateAccessToken)', () => {
  it('answers the service account token and its expiry', async () => {
    answer = {
      status: 200,
      body: JSON.stringify({ accessToken: 'ya29.sa-token', expireTime: '2026-12-07T22:00:00Z' }),
    };
    await expect(call()).resolves.toEqual({
      accessToken: 'ya29.sa-token',
      expiresAt: Date.parse('2026-12-07T22:00:00Z'),
    });
    expect(seen.at(-1)).toBe(`Bearer ${FEDERATED}`);
  });

  it("repeats Google's status and message in one bounded line, never the federated token", async () => {
    answer = {
      status: 403,
      body: JSON.stringify({
        error: {
          code: 403,
          status: `PERMISSION_DENIED\r\n${'X'.repeat(500)}`,
          message: `Permission denied for ${FEDERATED}\nforged: line ${'m'.repeat(1000)}`,
        },
      }),
    };
    const err = await call().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamRejected);
    const rejected = err as UpstreamRejected;
    expect(rejected.code).toBe('ERR_UPSTREAM_REJECTED');
    const said = [rejected.message, rejected.error, rejected.errorDescription ?? ''];
    for (const text of said) {
      expect(text).not.toContain(FEDERATED);
      expect(text).not.toMatch(/[\r\n]/);
    }
    expect(rejected.error.startsWith('PERMISSION_DENIED')).toBe(true);
    // At most 64 and 300 characters, and the ellipsis that says more was cut.
    expect(rejected.error.length).toBe(65);
    expect(rejected.errorDescription).toMatch(/^Permission denied for \[redacted\] forged: line m+…$/);
    expect(rejected.errorDescription?.length).toBe(301);
    expect(rejected.message).toContain("grant the pool's principal roles/iam.workloadIdentityUser");
  });

  it('answers a body that stalls after its headers with ERR_UPSTREAM_UNAVAILABLE at the attempt timeout', async () => {
    const stalled = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"accessToken":');
      });
    });
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const port = (stalled.address() as AddressInfo).port;
      const refused = await impersonate({
        settings: {
          serviceAccount: 'sa@p.iam.gserviceaccount.com',
          lifetime: 3600,
          url: `http://127.0.0.1:${port}/x`,
        },
        federatedToken: FEDERATED,
        scopes: ['https://www.googleapis.com/auth/cloud-platform'],
        timeoutMs: 200,
      }).catch((err: unknown) => err);
      expect(refused).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE' });
      expect(String((refused as Error).message)).not.toContain(FEDERATED);
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });
});
