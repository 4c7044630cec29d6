import { describe, expect, it } from 'vitest';
import { TOKEN_EXCHANGE_GRANT, tokenRequestParameters } from '../../lib/exchange/request.ts';

const settings = {
  subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
  requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
  audience: ['billing', 'ledger'],
  resource: ['https://api.example.com/v1'],
};

describe('the RFC 8693 §2.1 token exchange request', () => {
  it('carries the JWT as subject_token with its type, the targets repeated, scope and the profile params', () => {
    const params = tokenRequestParameters({
      grant: 'token-exchange',
      assertion: 'h.p.s',
      scopes: ['read', 'write'],
      scopeIn: 'assertion',
      extra: { client_id: 'app-1' },
      tokenExchange: settings,
    });
    expect([...params]).toEqual([
      ['grant_type', TOKEN_EXCHANGE_GRANT],
      ['subject_token', 'h.p.s'],
      ['subject_token_type', 'urn:ietf:params:oauth:token-type:jwt'],
      ['requested_token_type', 'urn:ietf:params:oauth:token-type:access_token'],
      ['audience', 'billing'],
      ['audience', 'ledger'],
      ['resource', 'https://api.example.com/v1'],
      ['scope', 'read write'],
      ['client_id', 'app-1'],
    ]);
    expect(TOKEN_EXCHANGE_GRANT).toBe('urn:ietf:params:oauth:grant-type:token-exchange');
  });

  it('leaves out what is not set: no requested type, no targets, no scope', () => {
    const params = tokenRequestParameters({
      grant: 'token-exchange',
      assertion: 'h.p.s',
      scopes: [],
      scopeIn: 'form',
      tokenExchange: { ...settings, requestedTokenType: undefined, audience: [], resource: [] },
    });
    expect(params.toString()).toBe(
      'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=h.p.s&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt',
    );
  });

  it('is a TypeError without the tokenExchange settings (a programming error)', () => {
    expect(() =>
      tokenRequestParameters({ grant: 'token-exchange', assertion: 'h.p.s', scopes: [], scopeIn: 'form' }),
    ).toThrow(new TypeError('grant token-exchange needs the tokenExchange settings'));
  });
});
