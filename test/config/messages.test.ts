import { describe, expect, it } from 'vitest';
import { closest, editDistance, unknownKeyMessage } from '../../lib/config/messages.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

describe('did-you-mean', () => {
  it('measures Levenshtein distance case-insensitively', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('tokenUrl', 'tokenUri')).toBe(1);
    expect(editDistance('CERTSTORE', 'certStore')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only close names', () => {
    expect(closest('certPasword', ['certPassword', 'certAlias'])).toBe('certPassword');
    expect(closest('ClaimsIssuer', ['issuer', 'subject'])).toBeUndefined();
    expect(unknownKeyMessage('x5tS265', ['x5t', 'x5tS256', 'x5c'])).toBe(
      'unknown key "x5tS265"; did you mean "x5tS256"?',
    );
  });

  it('suggests keys of the sigv4 credentials object', () => {
    const text =
      config(yamlProfile('a')) +
      'server:\n  sigv4:\n    region: eu-west-1\n    credentials:\n      AKIAIOSFODNN7EXAMPLE: { secret: env:S, caler: arn:aws:iam::1:role/x }\n';
    const err = thrown(() => parseConfig(text, 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message.split('\n')).toEqual([
      'server.sigv4.credentials.AKIAIOSFODNN7EXAMPLE.caller: required',
      'server.sigv4.credentials.AKIAIOSFODNN7EXAMPLE.caler: unknown key "caler"; did you mean "caller"?',
    ]);
  });

  it('checks header values written as secret references', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { headers: '{ X-Api-Key: "env:bad-name" }' })), 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'profile "a": headers.X-Api-Key: env: needs a variable name of letters, digits and _',
    );
    const ok = parseConfig(
      config(yamlProfile('a', { headers: '{ X-Api-Key: env:API_KEY, response_type: code }' })),
      'c.yaml',
    );
    expect(ok.profiles['a']!.headers).toEqual({ 'X-Api-Key': 'env:API_KEY', response_type: 'code' });
  });
});
