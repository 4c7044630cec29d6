import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  getOption,
  parseConnectionString,
  serializeConnectionString,
} from '../../lib/config/connection-string.ts';
import { ConfigError } from '../../lib/errors.ts';
import { thrown } from './helpers.ts';

describe('parseConnectionString', () => {
  it('reads Key=Value pairs with whitespace and newlines between them, names case-insensitive', () => {
    const options = parseConnectionString(' A=1 ;\n  b = two words ;\r\n\tC=3');
    expect([...options]).toEqual([
      ['A', '1'],
      ['b', 'two words'],
      ['C', '3'],
    ]);
    expect(getOption(options, 'B')).toBe('two words');
    expect(getOption(options, 'authenticationmethod')).toBeUndefined();
  });

  it('reads braced values with }} for a literal brace', () => {
    expect([...parseConnectionString('P={a;b}}c{d};Q={}')]).toEqual([
      ['P', 'a;b}c{d'],
      ['Q', ''],
    ]);
  });

  it('reads single- and double-quoted values with doubled quotes', () => {
    expect([
      ...parseConnectionString(`ClaimsIssuer='1a2b3c4d5e_6f7g8h9g';X="say ""hi"";";Y='it''s'`),
    ]).toEqual([
      ['ClaimsIssuer', '1a2b3c4d5e_6f7g8h9g'],
      ['X', 'say "hi";'],
      ['Y', "it's"],
    ]);
  });

  it('drops the jdbc:datadirect:autorest: prefix and its host part', () => {
    expect([
      ...parseConnectionString(
        'jdbc:datadirect:autorest://localhost:1234;AuthenticationMethod=55;ClaimsIssuer=x',
      ),
    ]).toEqual([
      ['AuthenticationMethod', '55'],
      ['ClaimsIssuer', 'x'],
    ]);
    expect([
      ...parseConnectionString('jdbc:datadirect:autorest:Config=a.rest;AuthenticationMethod=55'),
    ]).toEqual([
      ['Config', 'a.rest'],
      ['AuthenticationMethod', '55'],
    ]);
  });

  it('accepts a repeated key with the same value', () => {
    expect([...parseConnectionString('A=1;a=1')]).toEqual([['A', '1']]);
  });

  it.each([
    ['A={x;y', 'connection string: unbalanced "{" in the value of A (at character 3)'],
    ['A=x}', 'connection string: unbalanced "}" in the value of A (at character 3)'],
    ["A='x;y", "connection string: unclosed ' quote in the value of A (at character 3)"],
    ['A="x', 'connection string: unclosed " quote in the value of A (at character 3)'],
    ['A={x}y;B=1', 'connection string: unexpected text after the braced value of A (at character 6)'],
    [
      'A=1;B;C=2',
      'connection string: a pair has no "=" (write Key=Value; brace values that hold ";") (at character 5)',
    ],
    ['=1', 'connection string: empty key before "=" (at character 1)'],
    ['A=1;a=2', 'connection string: a is given twice with different values (at character 5)'],
  ])('rejects %j with ERR_CONNECTION_STRING', (text, message) => {
    const err = thrown(() => parseConnectionString(text));
    expect(err.code).toBe('ERR_CONNECTION_STRING');
    expect(err.message).toBe(message);
  });

  it('does not repeat a value fragment when a pair lacks "="', () => {
    const err = thrown(() => parseConnectionString('JWTCertPassword=se;cret;A=1'));
    expect(err.message).not.toContain('cret');
  });
});

const key = fc
  .tuple(
    fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij'),
    fc.string({ unit: fc.constantFrom(...'abcXYZ019_ .-'), maxLength: 12 }),
  )
  .map(([first, rest]) => (first + rest).trimEnd());
const value = fc.string({ unit: fc.constantFrom(...'ab xyz;{}\'"=\t\n\\/:@-é'), maxLength: 24 });

describe('connection-string property tests', () => {
  it('round-trips any map of keys to values through serializeConnectionString', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => k.toLowerCase(), maxLength: 8 }),
        (entries) => {
          const parsed = parseConnectionString(serializeConnectionString(entries));
          expect([...parsed]).toEqual(entries);
        },
      ),
      { seed: 20261127, numRuns: 500 },
    );
  });

  it('never throws anything but ConfigError on random text', () => {
    const alphabet = fc.constantFrom(...'A=;{}\'" \n\tb=c}}{{jdbc:datadirect:autorest:');
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: alphabet, maxLength: 60 })),
        (text) => {
          let err: unknown;
          try {
            parseConnectionString(text);
          } catch (caught) {
            err = caught;
          }
          if (err === undefined) return;
          rejected++;
          expect(err).toBeInstanceOf(ConfigError);
          expect((err as ConfigError).code).toBe('ERR_CONNECTION_STRING');
        },
      ),
      { seed: 20261127, numRuns: 2000 },
    );
    // The property is only worth something if some inputs were rejected.
    expect(rejected).toBeGreaterThan(0);
  });
});
