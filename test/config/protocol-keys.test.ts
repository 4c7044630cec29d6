import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const problems = (extra: Record<string, string>): string[] =>
  thrown(() => parseConfig(config(yamlProfile('a', extra)), 'c.yaml')).message.split('\n');

describe('provider protocol keys', () => {
  it('reads responseFields, params, tokenType, scopeCheck and assertion.typ, with their defaults', () => {
    const cfg = parseConfig(
      config(
        yamlProfile('a', {
          responseFields: '[instance_url, id_token]',
          params: '{ box_subject_type: enterprise, client_secret: env:BOX_SECRET }',
          tokenType: 'any',
          scopeCheck: 'strict',
          assertion: '{ typ: client-authentication+jwt }',
        }),
        yamlProfile('b'),
      ),
      'c.yaml',
    );
    expect(cfg.profiles['a']).toMatchObject({
      responseFields: ['instance_url', 'id_token'],
      params: { box_subject_type: 'enterprise', client_secret: 'env:BOX_SECRET' },
      tokenType: 'any',
      scopeCheck: 'strict',
      assertion: { typ: 'client-authentication+jwt' },
    });
    expect(cfg.profiles['b']).toMatchObject({
      responseFields: [],
      params: {},
      tokenType: 'bearer',
      scopeCheck: 'lenient',
      assertion: { typ: 'JWT' },
    });
  });

  it('fills salesforce responseFields and the entra client_id parameter from the presets', () => {
    const cfg = parseConfig(
      config(
        yamlProfile('sf', { provider: 'salesforce', tokenUri: '' }),
        yamlProfile('ms', {
          provider: 'entra',
          tenant: 'contoso.onmicrosoft.com',
          tokenUri: '',
          clientId: 'app-1',
        }),
      ),
      'c.yaml',
    );
    expect(cfg.profiles['sf']!.responseFields).toEqual(['instance_url', 'id', 'signature', 'issued_at']);
    expect(cfg.profiles['sf']!.params).toEqual({});
    expect(cfg.profiles['ms']!.params).toEqual({ client_id: 'app-1' });
  });

  it('refuses refresh_token and the broker own fields in responseFields', () => {
    expect(problems({ responseFields: '[refresh_token, access_token]' })).toEqual([
      'profile "a": responseFields.0: refresh_token is never passed on; remove it',
      'profile "a": responseFields.1: is a field of the broker\'s own answer; remove it',
    ]);
  });

  it('refuses params the broker sets itself, and a bad secret reference in one', () => {
    expect(problems({ params: '{ grant_type: password }' })).toEqual([
      'profile "a": params.grant_type: is set by the broker itself; remove it',
    ]);
    expect(problems({ params: '{ client_secret: "env:" }' })[0]).toMatch(
      /^profile "a": params\.client_secret: /,
    );
  });

  it('refuses an assertion lifetime above one day (1e12 included)', () => {
    expect(problems({ assertion: '{ lifetime: 1000000000000 }' })).toEqual([
      'profile "a": assertion.lifetime: must be at most 86400 (one day)',
    ]);
  });

  it('warns above 3600 s for a profile without a preset, and clamps silently to a preset cap', () => {
    const cfg = parseConfig(
      config(
        yamlProfile('g', { assertion: '{ lifetime: 7200 }' }),
        yamlProfile('d', { provider: 'docusign', tokenUri: '' }),
      ),
      'c.yaml',
    );
    expect(cfg.warnings).toEqual([
      'profile "g": assertion.lifetime: 7200 s is a long-lived credential; most providers refuse assertions valid for more than 3600 s',
    ]);
    expect(cfg.profiles['g']!.assertion.lifetime).toBe(7200);
  });

  it('makes consent_required and interaction_required mean consent for every profile', () => {
    const cfg = parseConfig(
      config(yamlProfile('a', { consentErrors: '[{ error: consent_required }]' })),
      'c.yaml',
    );
    expect(cfg.profiles['a']!.consentErrors).toEqual([
      { error: 'consent_required' },
      { error: 'interaction_required' },
    ]);
  });
});
