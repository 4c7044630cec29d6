import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RequestError } from '../../lib/errors.ts';
import { jsonResult, type HttpEvent } from '../../lib/http/event.ts';
import { SECURITY_HEADERS } from '../../lib/http/security-headers.ts';
import { httpHandler } from '../../lib/http/stack.ts';
import { silentLogger } from '../../lib/types.ts';

const context = { getRemainingTimeInMillis: () => 30_000, awsRequestId: 'r-1' } as unknown as Context;
const event = {
  version: '2.0',
  routeKey: 'GET /x',
  rawPath: '/x',
  rawQueryString: '',
  headers: { host: 'broker.example.com' },
  isBase64Encoded: false,
  requestContext: { http: { method: 'GET', path: '/x', sourceIp: '127.0.0.1' }, requestId: 'r-1' },
} as unknown as HttpEvent;

describe('security headers', () => {
  it('puts the fixed security headers and no-store on a success', async () => {
    const handler = httpHandler({ logger: silentLogger }, async () => jsonResult(200, { ok: true }));
    const res = await handler(event, context);
    expect(res.statusCode).toBe(200);
    expect(res.headers).toMatchObject({ ...SECURITY_HEADERS, 'Cache-Control': 'no-store' });
  });

  it('puts them on an error answer too', async () => {
    const handler = httpHandler({ logger: silentLogger }, async () => {
      throw new RequestError('ERR_UNKNOWN_PROFILE', 'unknown profile "x"');
    });
    const res = await handler(event, context);
    expect(res.statusCode).toBe(404);
    expect(res.headers).toMatchObject(SECURITY_HEADERS);
  });

  it("keeps a response's own Content-Security-Policy", async () => {
    const csp = "default-src 'none'; style-src 'unsafe-inline'";
    const handler = httpHandler({ logger: silentLogger }, async () => ({
      statusCode: 200,
      headers: { 'Content-Type': 'text/html', 'Content-Security-Policy': csp },
      body: '<p>ok</p>',
    }));
    const res = await handler(event, context);
    expect(res.headers['Content-Security-Policy']).toBe(csp);
    expect(res.headers['X-Content-Type-Options']).toBe('nosniff');
  });
});
