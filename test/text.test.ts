import { describe, expect, it } from 'vitest';
import { providerText, redactCredentials } from '../lib/text.ts';

const JWS =
  'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJjbGllbnQtMSIsInN1YiI6ImFsaWNlIn0.MEUCIQDx9vK3fJ2bZqE7l0p8aYw3sX1cQ4m';

describe('redactCredentials', () => {
  it.each([
    ['a whole JWS', `bad assertion ${JWS}`, 'bad assertion [redacted]'],
    ['a JWS cut short by the provider', `bad assertion ${JWS.slice(0, 40)}`, 'bad assertion [redacted]'],
    ['a JOSE header alone', 'header eyJhbGciOiJSUzI1NiJ9 refused', 'header [redacted] refused'],
    ['a JWE (five parts)', `jwe ${JWS}.aaaaaaaaaaaa.bbbbbbbbbbbb`, 'jwe [redacted]'],
    [
      'three long base64url parts with another header',
      'x abcdefghij12.klmnopqrst34.uvwxyzABCD56 y',
      'x [redacted] y',
    ],
  ])('replaces %s', (_name, text, expected) => {
    expect(redactCredentials(text)).toBe(expected);
  });

  it.each([
    ['an error URI', 'see https://login.microsoftonline.com/error?code=50058'],
    ['a trace id', 'Trace ID: 255d1aef-8c98-452f-ac51-23d051240864'],
    ['an AADSTS text', 'AADSTS700024: Client assertion is not within its valid time range.'],
  ])('keeps %s', (_name, text) => {
    expect(redactCredentials(text)).toBe(text);
  });

  it('replaces the assertion sent and each of its long parts, whatever their shape', () => {
    const known = 'AAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBB.CCCCCCCCCCCCCCCCCCCC';
    expect(redactCredentials(`sig CCCCCCCCCCCCCCCCCCCC, payload BBBBBBBBBBBBBBBBBBBB`, [known])).toBe(
      'sig [redacted], payload [redacted]',
    );
  });

  it('handles a 64 KiB run of base64url text in one pass and bounds the result', () => {
    const run = 'A'.repeat(64 * 1024);
    expect(redactCredentials(`x ${run} y`)).toBe(`x ${run} y`);
    const dotted = `${'A'.repeat(20_000)}.${'B'.repeat(20_000)}.${'C'.repeat(20_000)}`;
    expect(providerText(`x ${dotted} y`, 300)).toBe('x [redacted] y');
  });
});
