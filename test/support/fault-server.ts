import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answers one request; may leave it hanging. */
export type FaultStep = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A running scripted server. */
export interface FaultServer {
  readonly url: string;
  /** Requests received so far. */
  count(): number;
  /** Bodies (form text) received, in order. */
  readonly bodies: string[];
  /** Request headers received, in order. */
  readonly headers: IncomingMessage['headers'][];
  readonly methods: string[];
  /** Replaces the script: the next request is answered by `steps[0]`, and so on (the last step repeats). */
  answer(...steps: FaultStep[]): void;
  close(): Promise<void>;
}

/**
 * A tiny purpose-built server on 127.0.0.1: request n is answered by `steps[n]` (the last
 * step repeats). For fault tests of the token endpoint client and the broker.
 */
export async function startFaultServer(steps: readonly FaultStep[]): Promise<FaultServer> {
  let n = 0;
  let script = { steps, from: 0 };
  const bodies: string[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const methods: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const step = script.steps[Math.min(n - script.from, script.steps.length - 1)]!;
      n += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      bodies.push(body);
      headers.push(req.headers);
      methods.push(req.method ?? '');
      step(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    count: () => n,
    bodies,
    headers,
    methods,
    answer: (...next) => void (script = { steps: next, from: n }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers with JSON. */
export const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): FaultStep =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

/** Answers with raw text. */
export const raw =
  (
    status: number,
    contentType: string,
    text: string | Buffer,
    headers: Record<string, string> = {},
  ): FaultStep =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': contentType, ...headers });
    res.end(text);
  };

/** Never answers (until the server closes). */
export const hang: FaultStep = () => undefined;

/** A good token answer. */
export const tokenAnswer = (token = 'tok-1', extra: Record<string, unknown> = {}): FaultStep =>
  json(200, { access_token: token, token_type: 'bearer', expires_in: 3600, ...extra });

/** Answers with `step` after `ms` (unless the server closes first). */
export const delayed =
  (ms: number, step: FaultStep): FaultStep =>
  (req, res, body) => {
    const timer = setTimeout(() => step(req, res, body), ms);
    res.once('close', () => clearTimeout(timer));
  };

/** A good token answer with a new access token each time (`<prefix>-1`, `<prefix>-2`, …). */
export function numberedTokens(prefix: string, lifetime = 3600): FaultStep {
  let n = 0;
  return (req, res, body) => {
    n += 1;
    json(200, { access_token: `${prefix}-${n}`, token_type: 'bearer', expires_in: lifetime })(req, res, body);
  };
}
