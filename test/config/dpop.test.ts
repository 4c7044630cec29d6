import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { isBrokerError } from '../../lib/errors.ts';

const profile = (extra: string) => `profiles:
  okta:
    issuer: client-1
    grant: client-assertion
    tokenUri: https://example.okta.com/oauth2/v1/token
    certStore: file:key.pem
${extra}`;

function failure(text: string): { code: string; message: string } {
  try {
    parseConfig(text, 'c.yaml');
  } catch (err) {
    if (isBrokerError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('parsed');
}

describe('profile key dpop', () => {
  it('defaults to off and takes optional and required', () => {
    expect(parseConfig(profile(''), 'c.yaml').profiles['okta']?.dpop).toBe('off');
    expect(parseConfig(profile('    dpop: optional\n'), 'c.yaml').profiles['okta']?.dpop).toBe('optional');
    expect(parseConfig(profile('    dpop: required\n'), 'c.yaml').profiles['okta']?.dpop).toBe('required');
  });

  it('refuses another value, naming the key', () => {
    const err = failure(profile('    dpop: yes\n'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain(
      'profile "okta": dpop: must be one of "off", "optional", "required", got "yes"',
    );
  });

  it('refuses a scheduled refresh of a profile whose tokens need the caller’s proof', () => {
    const err = failure(profile('    dpop: required\n    refresh: { subjects: [client-1] }\n'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain(
      `profile "okta": refresh: a DPoP-bound token needs the caller's proof, so the schedule cannot fetch one; remove refresh or set dpop: optional`,
    );
  });
});
