/**
 * `dpop: required` with a consent step is refused when the configuration loads: the
 * consent callback completes the grant itself, with no caller's proof to send.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { isBrokerError } from '../../lib/errors.ts';

const profile = (extra: string) => `profiles:
  okta:
    issuer: client-1
    subject: alice@example.com
    tokenUri: https://example.okta.com/oauth2/v1/token
    authUri: https://example.okta.com/oauth2/v1/authorize
    certStore: file:key.pem
${extra}`;

const REDIRECT = '    redirectUri: https://broker.example.com:443/consent/callback\n';

function failure(text: string): { code: string; message: string } {
  try {
    parseConfig(text, 'c.yaml');
  } catch (err) {
    if (isBrokerError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('parsed');
}

describe('dpop: required with a consent step', () => {
  it('is refused at load time with one line that says what to do', () => {
    const err = failure(profile(`    dpop: required\n${REDIRECT}`));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain(
      `profile "okta": dpop: required cannot complete a consent step (redirectUri): the consent callback has no caller's DPoP proof to obtain a token with; set dpop: optional (callers with a proof still get DPoP-bound tokens) or remove redirectUri`,
    );
    expect(err.message.split('\n').filter((line) => line.includes('dpop:'))).toHaveLength(1);
  });

  it('accepts dpop: optional with the consent step, and dpop: required without one', () => {
    expect(parseConfig(profile(`    dpop: optional\n${REDIRECT}`), 'c.yaml').profiles['okta']?.dpop).toBe(
      'optional',
    );
    expect(parseConfig(profile('    dpop: required\n'), 'c.yaml').profiles['okta']?.dpop).toBe('required');
  });
});
