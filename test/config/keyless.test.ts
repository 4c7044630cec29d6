import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const WIP = 'projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/broker';

const parse = (...profiles: string[]) => parseConfig(config(...profiles), 'c.yaml');
const problems = (extra: Record<string, string>): string[] =>
  thrown(() => parse(yamlProfile('a', extra))).message.split('\n');

describe('keyless profiles (certStore: aws:web-identity)', () => {
  it('reads webIdentity with its defaults: RS256, 300 s, no tags, the assertion audience', () => {
    const cfg = parse(
      yamlProfile('bare', { certStore: 'aws:web-identity', grant: 'client-assertion' }),
      yamlProfile('full', {
        certStore: 'aws:web-identity',
        webIdentity: '{ audience: [a, b], algorithm: ES384, lifetime: 900, tags: { team: billing } }',
      }),
    );
    expect(cfg.profiles['bare']!.webIdentity).toEqual({
      audience: ['https://auth.example.com/oauth/token'],
      algorithm: 'RS256',
      lifetime: 300,
      tags: {},
      fallback: undefined,
    });
    expect(cfg.profiles['full']!.webIdentity).toEqual({
      audience: ['a', 'b'],
      algorithm: 'ES384',
      lifetime: 900,
      tags: { team: 'billing' },
      fallback: undefined,
    });
    // The JWT's subject is the function's role: the profile answers for its issuer only.
    expect(cfg.profiles['full']!.subject).toBe('client-1');
    expect(cfg.profiles['full']!.subjects).toEqual(['client-1']);
    expect(Object.hasOwn(parse(yamlProfile('k')).profiles['k']!, 'webIdentity')).toBe(false);
  });

  it('refuses the options only a key uses, and fallback, each with its fix', () => {
    expect(
      problems({
        certStore: 'aws:web-identity',
        certPassword: 'env:PW',
        certAlias: 'k',
        assertion: '{ x5t: true }',
        webIdentity: '{ fallback: keystore }',
      }),
    ).toEqual([
      'profile "a": certPassword: a aws:web-identity profile has no key; remove it',
      'profile "a": certAlias: a aws:web-identity profile has no key; remove it',
      'profile "a": assertion: a aws:web-identity profile has no key; remove it',
      'profile "a": webIdentity.fallback: needs a keystore to fall back to; set certStore to the keystore\'s reference (secretsmanager:, file:, kms:) or remove fallback',
    ]);
  });

  it('refuses a consent step, keyless or with a keystore fallback: the consent callback is not a subject the provider trusts', () => {
    const fix =
      "a web identity profile has no consent step (the provider trusts the token and refresh roles, not the consent callback's); remove it";
    expect(
      problems({
        certStore: 'aws:web-identity',
        redirectUri: 'https://broker.example.com:443/consent/callback',
        authUri: 'https://idp.example.com/authorize',
      }),
    ).toEqual([`profile "a": redirectUri: ${fix}`, `profile "a": authUri: ${fix}`]);
    expect(
      problems({
        certStore: 'kms:alias/broker',
        webIdentity: '{ audience: x, fallback: keystore }',
        redirectUri: 'https://broker.example.com:443/consent/callback',
      }),
    ).toEqual([`profile "a": redirectUri: ${fix}`]);
  });

  it('takes fallback: keystore beside a keystore certStore, and refuses webIdentity without it', () => {
    const cfg = parse(
      yamlProfile('mixed', {
        certStore: 'kms:alias/broker',
        webIdentity: '{ audience: x, fallback: keystore }',
      }),
    );
    expect(cfg.profiles['mixed']!.webIdentity).toMatchObject({ audience: ['x'], fallback: 'keystore' });
    expect(problems({ webIdentity: '{ audience: x }' })).toEqual([
      'profile "a": webIdentity: the profile also names a keystore; add fallback: keystore (web identity first, the key when STS refuses) or set certStore: aws:web-identity',
    ]);
  });

  it('checks webIdentity values as STS does, and suggests known keys', () => {
    const message = thrown(() =>
      parse(
        yamlProfile('a', {
          certStore: 'aws:web-identity',
          webIdentity: '{ algorithm: RS512, lifetime: 30, audiance: x }',
        }),
      ),
    ).message;
    expect(message).toContain('lifetime');
    expect(message).toContain('must be at least 60 (STS)');
    expect(message).toContain('RS256');
    expect(message).toContain('audience');
    expect(problems({ certStore: 'aws:web-identity', webIdentity: '{ lifetime: 3601 }' })[0]).toContain(
      'must be at most 3600 (STS)',
    );
    const eleven = `[${Array.from({ length: 11 }, (_, i) => `a${i}`).join(', ')}]`;
    expect(problems({ certStore: 'aws:web-identity', webIdentity: `{ audience: ${eleven} }` })[0]).toContain(
      'at most 10 audiences (STS)',
    );
  });
});

describe('presets entra-federated and google-wif', () => {
  it("entra-federated: the tenant's v2.0 endpoint, client credentials with client_id, audience api://AzureADTokenExchange", () => {
    const p = parse(
      yamlProfile('e', {
        provider: 'entra-federated',
        tenant: 'contoso.onmicrosoft.com',
        tokenUri: '',
        issuer: '11111111-2222-3333-4444-555555555555',
        certStore: 'aws:web-identity',
        scope: 'https://graph.microsoft.com/.default',
      }),
    ).profiles['e']!;
    expect(p).toMatchObject({
      grant: 'client-assertion',
      tokenUri: {
        method: 'POST',
        url: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
      },
      params: { client_id: '11111111-2222-3333-4444-555555555555' },
      scopes: ['https://graph.microsoft.com/.default'],
      scopeIn: 'form',
      webIdentity: { audience: ['api://AzureADTokenExchange'], algorithm: 'RS256' },
    });
  });

  it('google-wif: an RFC 8693 exchange at sts.googleapis.com for the pool provider, cloud-platform scope, optional impersonation', () => {
    const p = parse(
      yamlProfile('g', {
        provider: 'google-wif',
        tokenUri: '',
        certStore: 'aws:web-identity',
        workloadIdentityProvider: WIP,
        impersonate: '{ serviceAccount: broker@my-project.iam.gserviceaccount.com, lifetime: 600 }',
      }),
    ).profiles['g']!;
    expect(p).toMatchObject({
      grant: 'token-exchange',
      tokenUri: { method: 'POST', url: 'https://sts.googleapis.com/v1/token' },
      scopes: ['https://www.googleapis.com/auth/cloud-platform'],
      tokenExchange: {
        subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
        requestedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
        audience: [`//iam.googleapis.com/${WIP}`],
        resource: [],
      },
      webIdentity: { audience: [`https://iam.googleapis.com/${WIP}`] },
      impersonate: {
        serviceAccount: 'broker@my-project.iam.gserviceaccount.com',
        lifetime: 600,
        url: 'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/broker@my-project.iam.gserviceaccount.com:generateAccessToken',
      },
    });
  });

  it('refuses a keyless preset without web identity, google-wif without its pool provider, and http impersonation off loopback', () => {
    expect(problems({ provider: 'entra-federated', tenant: 'contoso', tokenUri: '' })).toEqual([
      'profile "a": certStore: the entra-federated preset uses the function\'s AWS identity; set certStore: aws:web-identity',
    ]);
    expect(problems({ provider: 'google-wif', tokenUri: '', certStore: 'aws:web-identity' })).toEqual([
      'profile "a": workloadIdentityProvider: the google-wif preset needs the pool provider, projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
    ]);
    expect(
      problems({
        provider: 'google-wif',
        tokenUri: '',
        certStore: 'aws:web-identity',
        workloadIdentityProvider: WIP,
        impersonate:
          '{ serviceAccount: sa@p.iam.gserviceaccount.com, url: "http://iam.example.com/{serviceAccount}" }',
      }),
    ).toEqual([
      'profile "a": impersonate.url: must use https (http only for loopback hosts such as 127.0.0.1), got "http://iam.example.com/sa@p.iam.gserviceaccount.com"',
    ]);
    expect(problems({ impersonate: '{ serviceAccount: sa@p.iam.gserviceaccount.com }' })).toEqual([
      'profile "a": impersonate: only the google-wif preset uses it; remove it or set provider: google-wif',
    ]);
  });
});
