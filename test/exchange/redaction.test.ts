/**
 * Provider text is cleaned of every credential sent to the token endpoint, in every form a
 * provider may repeat it: as sent, encoded, cut short or wrapped (lib/text.ts
 * `redactCredentials`, used by `processTokenResponse` with the exchange's `known` list).
 */
import { describe, expect, it } from 'vitest';
import { processTokenResponse } from '../../lib/exchange/response.ts';
import { UpstreamRejected } from '../../lib/errors.ts';
import { providerText, redactCredentials } from '../../lib/text.ts';

const SECRET = 'cs/3f9a+7b2e=41d8 c6a0&5e7f~Zq';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

describe('redactCredentials with known values', () => {
  it.each([
    ['as sent', SECRET],
    ['base64', b64(SECRET)],
    ['base64url', Buffer.from(SECRET).toString('base64url')],
    ['percent-encoded', encodeURIComponent(SECRET)],
    [
      'percent-encoded, lower-case hex',
      encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    ],
    ['form-encoded', new URLSearchParams({ v: SECRET }).toString().slice(2)],
    ['cut to 14 characters', SECRET.slice(0, 14)],
    ['wrapped over lines', `${SECRET.slice(0, 9)}\n  ${SECRET.slice(9, 20)}\r\n\t${SECRET.slice(20)}`],
  ])('replaces a value %s', (_form, repeated) => {
    expect(redactCredentials(`bad secret ${repeated} (see docs)`, [SECRET])).toBe(
      'bad secret [redacted] (see docs)',
    );
  });

  it('replaces a value inside Basic credentials at any byte alignment', () => {
    for (const id of ['a', 'ab', 'abc']) {
      const basic = b64(`${id}:${SECRET}`);
      const out = redactCredentials(`Basic ${basic} refused`, [SECRET]);
      expect(out).toMatch(/^Basic [A-Za-z0-9+/]{0,8}\[redacted\][A-Za-z0-9+/=]{0,4} refused$/);
    }
  });

  it('looks for a short value (6 to 11 characters) whole, and ignores one under 6', () => {
    expect(redactCredentials('key k3y-42x was wrong', ['k3y-42x'])).toBe('key [redacted] was wrong');
    expect(redactCredentials('response_type code is fine', ['code'])).toBe('response_type code is fine');
  });

  it('leaves text that repeats no known value as it is', () => {
    const text =
      'AADSTS7000215: Invalid client secret provided. Trace ID: 255d1aef-8c98-452f-ac51-23d051240864';
    expect(redactCredentials(text, [SECRET, 'hk_9d2c4e6f8a0b1c3d5e7f9a1b2c'])).toBe(text);
  });

  it('cleans 64 KiB of text against a long known list in one pass', () => {
    const known = [SECRET, 'x'.repeat(900), b64('y'.repeat(700))];
    const text = `${'ab '.repeat(21_000)}${SECRET}`;
    const started = performance.now();
    expect(providerText(text, 100_000, known).endsWith('ab [redacted]')).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('processTokenResponse', () => {
  it('redacts every known value from error and error_description before shortening them', async () => {
    const body = {
      error: `invalid_client:${encodeURIComponent(SECRET)}`,
      error_description: `${'x'.repeat(280)} ${SECRET}`,
    };
    const response = new Response(JSON.stringify(body), {
      status: 401,
      headers: { 'content-type': 'application/json' },
    });
    const err = (await processTokenResponse(response, { known: [SECRET] }).catch((e: unknown) => e)) as
      UpstreamRejected | undefined;
    expect(err).toBeInstanceOf(UpstreamRejected);
    expect(err!.error).toBe('invalid_client:[redacted]');
    expect(err!.errorDescription).toBe(`${'x'.repeat(280)} [redacted]`);
    expect(err!.message).not.toContain(SECRET.slice(0, 12));
  });
});
