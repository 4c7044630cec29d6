import { describe, expect, it } from 'vitest';
import { verifySigV4, type SigV4Request } from '../../lib/auth/sigv4-verify.ts';
import { isBrokerError } from '../../lib/errors.ts';
import {
  ACCESS_KEY_ID,
  CALLER_ARN,
  SECRET_ACCESS_KEY,
  SESSION_TOKEN,
  signedPost,
  verifyOptions,
} from '../client/sigv4-fixtures.ts';

const NOW = Date.UTC(2025, 5, 10, 12, 0, 0);
const at = (ms: number) => new Date(ms);

async function refusal(request: SigV4Request, now = NOW): Promise<{ code: string; message: string }> {
  const err: unknown = await verifySigV4(
    request,
    verifyOptions(() => now),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBrokerError(err, 'ERR_UNAUTHENTICATED')).toBe(true);
  const { code, message } = err as { code: string; message: string };
  expect(message).not.toContain(SECRET_ACCESS_KEY);
  expect(message).not.toMatch(/[0-9a-f]{64}/);
  return { code, message };
}

function withHeader(request: SigV4Request, name: string, value: string | undefined): SigV4Request {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() !== name) headers[k] = v;
  if (value !== undefined) headers[name] = value;
  return { ...request, headers };
}

describe('verifySigV4', () => {
  it('accepts a request signed by the client and returns the configured IAM caller', async () => {
    const request = await signedPost({ date: at(NOW) });
    await expect(
      verifySigV4(
        request,
        verifyOptions(() => NOW),
      ),
    ).resolves.toEqual({
      id: CALLER_ARN,
      kind: 'iam',
    });
  });

  it('accepts a signed session token, a stage path, a query and a port', async () => {
    const request = await signedPost({
      url: 'http://127.0.0.1:8443/prod/token?trace=a%20b&x=1',
      date: at(NOW - 4 * 60_000),
      sessionToken: SESSION_TOKEN,
    });
    expect(request.headers['x-amz-security-token']).toBe(SESSION_TOKEN);
    expect(request.query).toEqual({ trace: 'a b', x: '1' });
    await expect(
      verifySigV4(
        request,
        verifyOptions(() => NOW, new Set(['127.0.0.1:8443'])),
      ),
    ).resolves.toEqual({
      id: CALLER_ARN,
      kind: 'iam',
    });
  });

  it('accepts header names in any case', async () => {
    const request = await signedPost({ date: at(NOW) });
    const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toUpperCase(), v]));
    await expect(
      verifySigV4(
        { ...request, headers },
        verifyOptions(() => NOW),
      ),
    ).resolves.toMatchObject({
      kind: 'iam',
    });
  });

  it('refuses a signature made with the wrong secret', async () => {
    const request = await signedPost({ date: at(NOW), secret: 'not-the-secret' });
    expect(await refusal(request)).toEqual({
      code: 'ERR_UNAUTHENTICATED',
      message:
        'SigV4 authentication failed: signature does not match; check the secret access key and that the request was not altered',
    });
  });

  it('refuses a tampered body through x-amz-content-sha256', async () => {
    const request = await signedPost({ date: at(NOW) });
    const { message } = await refusal({ ...request, body: '{"profile":"salesforce"}' });
    expect(message).toBe('SigV4 authentication failed: x-amz-content-sha256 does not match the body');
  });

  it('refuses a tampered body when no content hash header was sent', async () => {
    const request = withHeader(await signedPost({ date: at(NOW) }), 'x-amz-content-sha256', undefined);
    const auth = request.headers['authorization']!.replace(';x-amz-content-sha256', '');
    const { message } = await refusal({
      ...withHeader(request, 'authorization', auth),
      body: '{"profile":"salesforce"}',
    });
    expect(message).toMatch(/signature does not match/);
  });

  it('refuses a tampered path', async () => {
    const request = await signedPost({ date: at(NOW) });
    const { message } = await refusal({ ...request, path: '/consent/docusign' });
    expect(message).toMatch(/^SigV4 authentication failed: signature does not match/);
  });

  it('refuses a tampered query', async () => {
    const request = await signedPost({ url: 'https://broker.example.com/token?a=1', date: at(NOW) });
    const { message } = await refusal({ ...request, query: { a: '2' } });
    expect(message).toMatch(/signature does not match/);
  });

  it('refuses a tampered signed header', async () => {
    const request = await signedPost({ date: at(NOW) });
    const { message } = await refusal(withHeader(request, 'content-type', 'text/plain'));
    expect(message).toMatch(/signature does not match/);
  });

  it('refuses a date more than five minutes old', async () => {
    const request = await signedPost({ date: at(NOW - 6 * 60_000) });
    const { message } = await refusal(request);
    expect(message).toBe(
      'SigV4 authentication failed: x-amz-date is more than 5 minutes from the server time; check the clock and sign again',
    );
  });

  it('refuses a date more than five minutes ahead', async () => {
    const { message } = await refusal(await signedPost({ date: at(NOW + 6 * 60_000) }));
    expect(message).toMatch(/x-amz-date is more than 5 minutes from the server time/);
  });

  it('refuses a credential scope for another region', async () => {
    const { message } = await refusal(await signedPost({ date: at(NOW), region: 'us-east-1' }));
    expect(message).toBe(
      'SigV4 authentication failed: credential scope names region "us-east-1"; sign for "eu-west-1"',
    );
  });

  it.each([
    [
      'a credential scope for another service',
      '/execute-api/',
      '/s3/',
      'credential scope names service "s3"; sign for "execute-api"',
    ],
    [
      'a scope date that differs from x-amz-date',
      '/20250610/',
      '/20250609/',
      'credential scope date differs from the x-amz-date day',
    ],
    ['an unknown access key id', ACCESS_KEY_ID, 'AKIDSOMEONEELSE', 'unknown access key id AKIDSOMEONEELSE'],
    ['a signature that does not cover host', 'host;', '', 'the host header is not signed'],
  ])('refuses %s', async (_what, from, to, reason) => {
    const request = await signedPost({ date: at(NOW) });
    const auth = request.headers['authorization']!.replace(from, to);
    expect(auth).not.toBe(request.headers['authorization']);
    const { message } = await refusal(withHeader(request, 'authorization', auth));
    expect(message).toBe(`SigV4 authentication failed: ${reason}`);
  });

  it.each<[string, string, string | undefined, string]>([
    [
      'a request without an Authorization header',
      'authorization',
      undefined,
      'missing Authorization header; sign the request with AWS SigV4 for execute-api',
    ],
    [
      'another authorization scheme',
      'authorization',
      'Bearer abc',
      'Authorization header is not AWS4-HMAC-SHA256; sign the request with AWS SigV4',
    ],
    [
      'a malformed Authorization header',
      'authorization',
      `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY_ID}/20250610/eu-west-1/execute-api/aws4_request`,
      'malformed Authorization header; expected Credential=, SignedHeaders= and Signature=',
    ],
    ['a request without x-amz-date', 'x-amz-date', undefined, 'missing x-amz-date header'],
    [
      'a malformed x-amz-date',
      'x-amz-date',
      '2025-06-10T12:00:00Z',
      'x-amz-date is not in the form YYYYMMDDTHHMMSSZ',
    ],
    [
      'a request missing a signed header',
      'content-type',
      undefined,
      'signed header "content-type" is missing from the request',
    ],
  ])('refuses %s', async (_what, header, value, reason) => {
    const request = withHeader(await signedPost({ date: at(NOW) }), header, value);
    const { message } = await refusal(request);
    expect(message).toBe(`SigV4 authentication failed: ${reason}`);
  });
});
