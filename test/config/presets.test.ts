import { describe, expect, it } from 'vitest';
import { parseConfig, PRESETS } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const load = (extra: Record<string, string>) => {
  const cfg = parseConfig(config(yamlProfile('p', { tokenUri: '', ...extra })), 'c.yaml');
  return { profile: cfg.profiles['p']!, warnings: cfg.warnings };
};

describe('provider presets', () => {
  it('docusign-demo: token URI, host audience, scope in assertion, consent', () => {
    const { profile } = load({ provider: 'docusign-demo', scope: 'signature' });
    expect(profile).toMatchObject({
      tokenUri: { method: 'POST', url: 'https://account-d.docusign.com/oauth/token' },
      audience: 'account-d.docusign.com',
      scopeIn: 'assertion',
      authUri: 'https://account-d.docusign.com/oauth/auth',
      consentScopes: ['signature', 'impersonation'],
      consentErrors: [{ error: 'consent_required' }, { error: 'interaction_required' }],
      grant: 'jwt-bearer',
      pkce: true,
    });
  });

  it('docusign: production host, consent scopes default to "signature impersonation"', () => {
    const { profile } = load({ provider: 'docusign' });
    expect(profile.tokenUri.url).toBe('https://account.docusign.com/oauth/token');
    expect(profile.audience).toBe('account.docusign.com');
    expect(profile.consentScopes).toEqual(['signature', 'impersonation']);
  });

  it('salesforce and its sandbox: login origin audience, scope in form, consent error', () => {
    const prod = load({ provider: 'salesforce' }).profile;
    expect(prod).toMatchObject({
      tokenUri: { method: 'POST', url: 'https://login.salesforce.com/services/oauth2/token' },
      audience: 'https://login.salesforce.com',
      scopeIn: 'form',
      authUri: 'https://login.salesforce.com/services/oauth2/authorize',
      consentErrors: [
        { error: 'consent_required' },
        { error: 'interaction_required' },
        { error: 'invalid_grant', descriptionIncludes: "user hasn't approved this consumer" },
      ],
    });
    expect(prod.assertion.lifetime).toBe(180);
    const sandbox = load({ provider: 'salesforce-sandbox' }).profile;
    expect(sandbox.tokenUri.url).toBe('https://test.salesforce.com/services/oauth2/token');
    expect(sandbox.audience).toBe('https://test.salesforce.com');
  });

  it('salesforce keeps the login origin as audience for a My Domain token URI', () => {
    const { profile } = load({
      provider: 'salesforce',
      tokenUri: 'https://acme.my.salesforce.com/services/oauth2/token',
    });
    expect(profile.audience).toBe('https://login.salesforce.com');
  });

  it('google: token URI as audience, scope in assertion, no consent page', () => {
    const { profile } = load({ provider: 'google', scope: 'https://www.googleapis.com/auth/drive' });
    expect(profile).toMatchObject({
      tokenUri: { method: 'POST', url: 'https://oauth2.googleapis.com/token' },
      audience: 'https://oauth2.googleapis.com/token',
      scopeIn: 'assertion',
      authUri: undefined,
      consentErrors: [{ error: 'consent_required' }, { error: 'interaction_required' }],
    });
  });

  it('entra: tenant fills the token URI; client-assertion with x5t#S256', () => {
    const { profile } = load({ provider: 'entra', tenant: 'contoso.onmicrosoft.com' });
    expect(profile).toMatchObject({
      tokenUri: { url: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token' },
      audience: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      authUri: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
      grant: 'client-assertion',
      scopeIn: 'form',
    });
    expect(profile.assertion.x5tS256).toBe(true);
  });

  it('entra without tenant or tokenUri is an error', () => {
    const err = thrown(() => load({ provider: 'entra' }));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'profile "p": tenant: the entra preset needs "tenant" (directory id or domain) or a full tokenUri',
    );
  });

  it('tenant is only for entra', () => {
    const err = thrown(() =>
      load({ provider: 'okta', tenant: 'x', tokenUri: 'https://o.okta.com/oauth2/v1/token' }),
    );
    expect(err.message).toBe('profile "p": tenant: only the entra and entra-federated presets use "tenant"');
  });

  it('okta needs the org token URI and derives authorize beside it', () => {
    const err = thrown(() => load({ provider: 'okta' }));
    expect(err.message).toBe(
      'profile "p": tokenUri: the okta preset needs the org\'s token URI, e.g. https://example.okta.com/oauth2/v1/token',
    );
    const { profile } = load({ provider: 'okta', tokenUri: 'https://acme.okta.com/oauth2/default/v1/token' });
    expect(profile).toMatchObject({
      audience: 'https://acme.okta.com/oauth2/default/v1/token',
      authUri: 'https://acme.okta.com/oauth2/default/v1/authorize',
      grant: 'client-assertion',
    });
    expect(profile.assertion.lifetime).toBe(300);
  });

  it("a profile's own keys override its preset", () => {
    const { profile } = load({
      provider: 'docusign-demo',
      tokenUri: 'GET http://127.0.0.1:9999/oauth/token',
      audience: 'custom-aud',
      scopeIn: 'form',
      grant: 'client-assertion',
      authUri: 'http://127.0.0.1:9999/auth',
      consentScopes: 'extra',
      pkce: 'false',
      consentErrors: '[{ error: access_denied, descriptionIncludes: consent }]',
      assertion: '{ x5tS256: false }',
    });
    expect(profile).toMatchObject({
      tokenUri: { method: 'GET', url: 'http://127.0.0.1:9999/oauth/token' },
      audience: 'custom-aud',
      scopeIn: 'form',
      grant: 'client-assertion',
      authUri: 'http://127.0.0.1:9999/auth',
      consentScopes: ['extra'],
      pkce: false,
      consentErrors: [
        { error: 'consent_required' },
        { error: 'interaction_required' },
        { error: 'access_denied', descriptionIncludes: 'consent' },
      ],
    });
  });

  it('derives the DocuSign audience and consent page from an overridden token URI host', () => {
    const { profile } = load({ provider: 'docusign-demo', tokenUri: 'http://127.0.0.1:9999/oauth/token' });
    expect(profile.audience).toBe('127.0.0.1:9999');
    expect(profile.authUri).toBe('http://127.0.0.1:9999/oauth/auth');
  });

  it('clamps a lifetime above the preset cap and says so in warnings', () => {
    const { profile, warnings } = load({ provider: 'salesforce', assertion: '{ lifetime: 3600 }' });
    expect(profile.assertion.lifetime).toBe(180);
    expect(warnings).toEqual([
      'profile "p": assertion.lifetime: 3600 s is above the salesforce limit of 180 s; using 180',
    ]);
    const google = load({ provider: 'google', assertion: '{ lifetime: 7200 }' });
    expect(google.profile.assertion.lifetime).toBe(3600);
    expect(google.warnings).toEqual([
      'profile "p": assertion.lifetime: 7200 s is above the google limit of 3600 s; using 3600',
    ]);
  });

  it('keeps a lifetime within the cap without a warning', () => {
    const { profile, warnings } = load({ provider: 'docusign', assertion: '{ lifetime: 3600 }' });
    expect(profile.assertion.lifetime).toBe(3600);
    expect(warnings).toEqual([]);
  });

  it('tells whether an audience fits the preset', () => {
    const url = new URL('https://account-d.docusign.com/oauth/token');
    expect(PRESETS['docusign-demo'].audienceFits('account-d.docusign.com', url)).toBe(true);
    expect(PRESETS['docusign-demo'].audienceFits('https://account-d.docusign.com/oauth/token', url)).toBe(
      false,
    );
    expect(PRESETS.salesforce.audienceFits('https://acme.my.site.com/customers', url)).toBe(true);
    expect(PRESETS.salesforce.audienceFits('login.salesforce.com', url)).toBe(false);
  });
});
