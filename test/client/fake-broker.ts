/**
 * A broker stand-in on 127.0.0.1: verifies each request's SigV4 signature with the real
 * verifier and the fixed test credentials, then answers like the broker's `POST /token`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySigV4 } from '../../lib/auth/sigv4-verify.ts';
import { isBrokerError } from '../../lib/errors.ts';
import type { Caller } from '../../lib/types.ts';
import { verifyOptions } from './sigv4-fixtures.ts';

export interface Answer {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  /** Hold the answer until this promise settles. */
  readonly after?: Promise<unknown>;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FakeBroker {
  readonly endpoint: string;
  /** Requests that reached the token route (signed or not). */
  readonly requests: { body: unknown; caller: Caller | undefined; dpop?: string | undefined }[];
  answer: (body: Record<string, unknown>, caller: Caller) => Answer;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the stand-in; `now` is the verifier's clock (share the client's fake clock). */
export async function startFakeBroker(now: () => number): Promise<FakeBroker> {
  const broker: FakeBroker = {
    endpoint: '',
    requests: [],
    answer: () => ({ status: 500, json: { error: 'internal', message: 'no answer configured' } }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const send = (status: number, payload: string, headers: Readonly<Record<string, string>> = {}) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          ...headers,
        });
        res.end(payload);
      };
      let caller: Caller | undefined;
      try {
        caller = await verifySigV4(
          {
            method: req.method ?? 'GET',
            path: url.pathname,
            query: Object.fromEntries(url.searchParams),
            headers,
            body,
          },
          verifyOptions(now, new Set([headers['host'] ?? ''])),
        );
      } catch (err) {
        broker.requests.push({ body, caller: undefined });
        if (!isBrokerError(err, 'ERR_UNAUTHENTICATED')) throw err;
        send(403, JSON.stringify({ error: 'forbidden', message: err.message }));
        return;
      }
      const parsed = JSON.parse(body) as Record<string, unknown>;
      broker.requests.push({ body: parsed, caller, dpop: headers['dpop'] });
      const answer = broker.answer(parsed, caller);
      if (answer.after) await answer.after.catch(() => undefined);
      send(answer.status, answer.text ?? JSON.stringify(answer.json), answer.headers);
    })().catch(() => {
      res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  (broker as { endpoint: string }).endpoint = `http://127.0.0.1:${port}`;
  return broker;
}

/** A broker-shaped 200 body. */
export function tokenBody(accessToken: string, expiresIn: number, now: number, scope?: string) {
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: expiresIn,
    expires_at: Math.floor(now / 1000) + expiresIn,
    ...(scope ? { scope } : {}),
  };
}
