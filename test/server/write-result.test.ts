import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpResult } from '../../lib/http/event.ts';
import { writeResult } from '../../lib/server/event.ts';

let server: Server;
let port: number;
const results: Record<string, HttpResult> = {
  '/text': {
    statusCode: 403,
    headers: { 'Content-Type': 'application/json' },
    body: '{"message":"subject \\"é@exämple.com\\" ✓"}',
  },
  '/binary': {
    statusCode: 200,
    headers: { 'Content-Type': 'application/octet-stream' },
    body: Buffer.from([0, 255, 10, 13, 128]).toString('base64'),
    isBase64Encoded: true,
  },
  '/cookies': {
    statusCode: 302,
    headers: { Location: '/done' },
    cookies: ['a=1; HttpOnly', 'b=2'],
    body: '',
  },
};

beforeAll(async () => {
  server = createServer((req, res) => writeResult(res, results[req.url ?? '']!));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The raw bytes of the response to `GET path` on a connection closed after it. */
function raw(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

function split(response: Buffer): { head: string; body: Buffer } {
  const at = response.indexOf('\r\n\r\n');
  return { head: response.subarray(0, at).toString('latin1'), body: response.subarray(at + 4) };
}

describe('writeResult', () => {
  it('sends a text body as its UTF-8 bytes with their length, not its character count', async () => {
    const { head, body } = split(await raw('/text'));
    const expected = Buffer.from(results['/text']!.body, 'utf8');
    expect(expected.length).toBeGreaterThan(results['/text']!.body.length);
    expect(head).toMatch(/^HTTP\/1\.1 403 /);
    expect(head).toContain(`Content-Length: ${expected.length}\r\n`);
    expect(body.equals(expected)).toBe(true);
  });

  it('sends a base64 body decoded, byte for byte', async () => {
    const { head, body } = split(await raw('/binary'));
    expect(head).toContain('Content-Length: 5\r\n');
    expect([...body]).toEqual([0, 255, 10, 13, 128]);
  });

  it('sends every cookie as its own Set-Cookie header and an empty body with length 0', async () => {
    const { head, body } = split(await raw('/cookies'));
    expect(head).toContain('Set-Cookie: a=1; HttpOnly\r\nSet-Cookie: b=2\r\n');
    expect(head).toContain('Content-Length: 0\r\n');
    expect(body.length).toBe(0);
  });
});
