import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from './events.ts';
import { CONSENT_BASE, startHarness, type Harness } from './harness.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
const logger: Logger = {
  debug: (message, fields) => lines.push({ level: 'debug', message, fields }),
  info: (message, fields) => lines.push({ level: 'info', message, fields }),
  warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  error: (message, fields) => lines.push({ level: 'error', message, fields }),
};

let harness: Harness;
let handler: ReturnType<typeof createTokenHandler>;

beforeAll(async () => {
  harness = await startHarness({ logger });
  handler = createTokenHandler({ broker: harness.broker, logger });
});
afterAll(() => harness.close());

const call = async (
  body: unknown,
  userArn: string | null = ALICE,
  extra: Parameters<typeof apiEvent>[0] = {},
) => {
  const result = await handler(
    apiEvent({
      body: typeof body === 'string' ? body : JSON.stringify(body),
      userArn: userArn ?? undefined,
      ...extra,
    }),
    lambdaContext(),
  );
  return { ...result, json: JSON.parse(result.body) as Record<string, unknown> };
};

describe('POST /token handler', () => {
  it('returns a token to an allowed IAM user, with no-store headers and no cache flag', async () => {
    const res = await call({ profile: 'billing' });
    expect(res.statusCode).toBe(200);
    expect(res.json).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: expect.any(Number),
      expires_at: expect.any(Number),
      scope: 'read write',
    });
    expect(harness.authorization.introspect(res.json['access_token'] as string)?.subject).toBe(
      'demo-user@example.com',
    );
    expect(res.headers['Cache-Control']).toBe('no-store');
    expect(res.headers['Pragma']).toBe('no-cache');
    expect(res.headers['X-Content-Type-Options']).toBe('nosniff');
    expect(res.headers['Content-Type']).toBe('application/json; charset=utf-8');
  });

  it('matches an assumed-role session by its role ARN', async () => {
    const res = await call(
      { profile: 'billing', subject: 'ops@example.com' },
      'arn:aws:sts::123456789012:assumed-role/billing-reports/i-0abc123',
    );
    expect(res.statusCode).toBe(200);
    expect(harness.authorization.introspect(res.json['access_token'] as string)?.subject).toBe(
      'ops@example.com',
    );
  });

  it('refuses another caller with 403 forbidden naming caller and profile, and logs the denial', async () => {
    lines.length = 0;
    const res = await call({ profile: 'billing' }, 'arn:aws:sts::123456789012:assumed-role/payroll/session');
    expect(res.statusCode).toBe(403);
    expect(res.json['error']).toBe('forbidden');
    expect(res.json['message']).toContain('arn:aws:iam::123456789012:role/payroll');
    expect(res.json['message']).toContain('"billing"');
    expect(res.headers['Cache-Control']).toBe('no-store');
    const denial = lines.find((l) => l.message === 'request denied');
    expect(denial?.level).toBe('warn');
    expect(denial?.fields).toMatchObject({
      code: 'ERR_FORBIDDEN',
      caller: 'arn:aws:iam::123456789012:role/payroll',
      profile: 'billing',
      status: 403,
    });
  });

  it('refuses a request without an IAM identity with 403 (ERR_UNAUTHENTICATED)', async () => {
    lines.length = 0;
    const res = await call({ profile: 'billing' }, null);
    expect(res.statusCode).toBe(403);
    expect(res.json).toEqual({
      error: 'forbidden',
      message:
        'the request carries no caller identity; sign it with IAM credentials (SigV4), or send an API key to the local server',
    });
    expect(lines.find((l) => l.message === 'request denied')?.fields?.['code']).toBe('ERR_UNAUTHENTICATED');
  });

  it('refuses an unidentified caller with 403 before reading its body', async () => {
    const malformed = await call('{not json', null);
    expect(malformed.statusCode).toBe(403);
    expect(malformed.json).toMatchObject({ error: 'forbidden' });
    const wrongTypes = await call({ profile: 42, minTtl: 'soon' }, null);
    expect(wrongTypes.statusCode).toBe(403);
    expect(JSON.stringify(wrongTypes.json)).not.toContain('minTtl');
  });

  it('answers 404 unknown_profile for a profile the config lacks', async () => {
    const res = await call({ profile: 'nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json).toEqual({
      error: 'unknown_profile',
      message: 'unknown profile "nope"; ask for a profile the broker\'s configuration defines',
    });
  });

  it('answers 400 invalid_request for malformed JSON', async () => {
    const res = await call('{"profile": "billing"');
    expect(res.statusCode).toBe(400);
    expect(res.json).toEqual({
      error: 'invalid_request',
      message: 'the body is not valid JSON; send a JSON object such as {"profile":"NAME"}',
    });
  });

  it('answers 400 for unknown fields and a bad minTtl, 415 for a non-JSON or missing content type', async () => {
    const unknown = await call({ profile: 'billing', audience: 'x' });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json['message']).toBe(
      'unknown field "audience"; allowed fields: profile, subject, scope, minTtl, rejected',
    );
    const ttl = await call({ profile: 'billing', minTtl: 3601 });
    expect(ttl.statusCode).toBe(400);
    expect(ttl.json['message']).toBe('minTtl: must be an integer number of seconds from 0 to 3600');
    const form = await call('profile=billing', ALICE, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode).toBe(415);
    expect(form.json).toEqual({
      error: 'unsupported_media_type',
      message:
        'the body must be JSON; send Content-Type: application/json (got "application/x-www-form-urlencoded")',
    });
  });

  it('answers 413 for a body over 16 KiB, also when base64-encoded', async () => {
    const big = JSON.stringify({ profile: 'billing', subject: 'x'.repeat(17 * 1024) });
    const res = await call(big);
    expect(res.statusCode).toBe(413);
    expect(res.json).toEqual({
      error: 'invalid_request',
      message: 'the body is larger than 16384 bytes; send only {profile, subject, scope, minTtl}',
    });
    const encoded = await call(Buffer.from(big).toString('base64'), ALICE, { isBase64Encoded: true });
    expect(encoded.statusCode).toBe(413);
  });

  it("refuses a subject outside the profile's subjects with 403", async () => {
    const res = await call({ profile: 'billing', subject: 'mallory@evil.example' });
    expect(res.statusCode).toBe(403);
    expect(res.json['error']).toBe('forbidden');
    expect(res.json['message']).toContain('mallory@evil.example');
  });

  it("answers 502 upstream_rejected with the provider's error when the token endpoint refuses", async () => {
    // The authorization server does not let demo-client act for this subject: invalid_grant.
    const res = await call({ profile: 'billing', subject: 'stranger@example.com' });
    expect(res.statusCode).toBe(502);
    expect(res.json['error']).toBe('upstream_rejected');
    expect(res.json['provider_error']).toBe('invalid_grant');
    expect(typeof res.json['error_description']).toBe('string');
    expect(res.json['message']).toContain('invalid_grant');
  });

  it('answers 503 upstream_unavailable when the token endpoint is down', async () => {
    lines.length = 0;
    const res = await call({ profile: 'down' });
    expect(res.statusCode).toBe(503);
    expect(res.json['error']).toBe('upstream_unavailable');
    expect(lines.find((l) => l.message === 'request failed')?.fields).toMatchObject({
      code: 'ERR_UPSTREAM_UNAVAILABLE',
      profile: 'down',
    });
  });

  it('answers 409 consent_required with the consent URL until the user consents', async () => {
    const res = await call({ profile: 'consent' });
    expect(res.statusCode).toBe(409);
    expect(res.json).toMatchObject({
      error: 'consent_required',
      consent_url: `${CONSENT_BASE}/consent?subject=jsmith%40example.com`,
    });
    expect(res.json['message']).toContain('needs the user\'s consent for subject "jsmith@example.com"');
  });

  it('drops a token its caller reports refused and fetches one new token for 10 concurrent reports', async () => {
    const first = await call({ profile: 'billing', scope: 'read' });
    const refused = createHash('sha256')
      .update(first.json['access_token'] as string)
      .digest('hex')
      .slice(0, 8);
    const before = harness.authorization.requestCount();

    const reports = await Promise.all(
      Array.from({ length: 10 }, () => call({ profile: 'billing', scope: 'read', rejected: refused })),
    );

    expect(harness.authorization.requestCount() - before).toBe(1);
    const tokens = new Set(reports.map((report) => report.json['access_token']));
    expect(tokens.size).toBe(1);
    expect(tokens.has(first.json['access_token'])).toBe(false);
    // A report of the old fingerprint now just gets the current token.
    const late = await call({ profile: 'billing', scope: 'read', rejected: refused });
    expect(late.json['access_token']).toBe([...tokens][0]);
    expect(harness.authorization.requestCount() - before).toBe(1);
  });

  it('refuses a rejected field that is not a token fingerprint with 400 invalid_request', async () => {
    const res = await call({ profile: 'billing', rejected: 'not-a-fingerprint' });
    expect(res.statusCode).toBe(400);
    expect(res.json).toEqual({
      error: 'invalid_request',
      message:
        'rejected: must be the fingerprint of the refused token: the first 8 hex digits (lower case) of its SHA-256',
    });
  });
});
