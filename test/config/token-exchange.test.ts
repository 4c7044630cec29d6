import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const problems = (extra: Record<string, string>): string[] =>
  thrown(() => parseConfig(config(yamlProfile('a', extra)), 'c.yaml')).message.split('\n');

const exchange = (tokenExchange: string, extra: Record<string, string> = {}) =>
  problems({ grant: 'token-exchange', tokenExchange, ...extra });

describe('grant: token-exchange (RFC 8693)', () => {
  it('reads tokenExchange with its defaults, single values as lists, and addresses the JWT to the token endpoint', () => {
    const cfg = parseConfig(
      config(
        yamlProfile('full', {
          grant: 'token-exchange',
          scope: 'read write',
          tokenExchange:
            '{ subjectTokenType: "urn:ietf:params:oauth:token-type:id_token", requestedTokenType: "urn:ietf:params:oauth:token-type:access_token", audience: [billing, ledger], resource: "https://api.example.com/v1" }',
        }),
        yamlProfile('bare', { grant: 'token-exchange' }),
      ),
      'c.yaml',
    );
    expect(cfg.profiles['full']).toMatchObject({
      grant: 'token-exchange',
      scopes: ['read', 'write'],
      audience: 'https://auth.example.com/oauth/token',
      tokenExchange: {
        subjectTokenType: 'urn:ietf:params:oauth:token-type:id_token',
        requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
        audience: ['billing', 'ledger'],
        resource: ['https://api.example.com/v1'],
      },
    });
    expect(cfg.profiles['bare']!.tokenExchange).toEqual({
      subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
      requestedTokenType: undefined,
      audience: [],
      resource: [],
    });
  });

  it('gives other grants no tokenExchange, and refuses one written on them', () => {
    const cfg = parseConfig(config(yamlProfile('a')), 'c.yaml');
    expect(cfg.profiles['a']!.grant).toBe('jwt-bearer');
    expect(Object.hasOwn(cfg.profiles['a']!, 'tokenExchange')).toBe(false);
    expect(problems({ tokenExchange: '{ audience: billing }' })).toEqual([
      'profile "a": tokenExchange: only grant: token-exchange uses it (this profile\'s grant is jwt-bearer); remove it',
    ]);
  });

  it('refuses unknown keys in tokenExchange, with a guess', () => {
    expect(exchange('{ audiences: billing }')).toEqual([
      'profile "a": tokenExchange.audiences: unknown key "audiences"; did you mean "audience"?',
    ]);
    expect(exchange('{ actorToken: none }')).toEqual([
      'profile "a": tokenExchange.actorToken: unknown key "actorToken"; known keys: subjectTokenType, requestedTokenType, audience, resource',
    ]);
  });

  it('refuses token types that are not URIs, resources that are not absolute or carry a fragment, and empty lists', () => {
    expect(exchange('{ subjectTokenType: jwt, requestedTokenType: "access token" }')).toEqual([
      'profile "a": tokenExchange.subjectTokenType: must be a token type URI such as urn:ietf:params:oauth:token-type:jwt',
      'profile "a": tokenExchange.requestedTokenType: must be a token type URI such as urn:ietf:params:oauth:token-type:jwt',
    ]);
    expect(exchange('{ resource: [/v1/items, "https://api.example.com/v1#top"] }')).toEqual([
      'profile "a": tokenExchange.resource.0: must be an absolute URI without a fragment (RFC 8693 §2.1)',
      'profile "a": tokenExchange.resource.1: must be an absolute URI without a fragment (RFC 8693 §2.1)',
    ]);
    expect(exchange('{ audience: [] }')).toEqual(['profile "a": tokenExchange.audience: must not be empty']);
  });

  it('refuses params that the exchange sets itself, and actor tokens', () => {
    expect(exchange('{}', { params: '{ audience: billing, actor_token: x, client_id: app-1 }' })).toEqual([
      'profile "a": params.audience: is set by the broker for grant: token-exchange; write it under tokenExchange',
      'profile "a": params.actor_token: is not sent: the broker exchanges its own JWT without an actor token; remove it',
    ]);
  });

  it('keeps params named like token exchange parameters on the other grants (an Auth0 audience)', () => {
    const cfg = parseConfig(
      config(yamlProfile('a', { params: '{ audience: "https://api.example.com" }' })),
      'c.yaml',
    );
    expect(cfg.profiles['a']!.params).toEqual({ audience: 'https://api.example.com' });
  });
});
