import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const DESIGN_EXAMPLE = `
profiles:
  docusign:
    provider: docusign-demo
    issuer: 1a2b3c4d5e_6f7g8h9g
    clientId: 1a2b3c4d5e_6f7g8h9g
    subject: jsmith@example.com
    subjects: ["*@example.com"]
    tokenUri: POST https://account-d.docusign.com/oauth/token
    audience: account-d.docusign.com
    scope: signature impersonation
    certStore: secretsmanager:prod/docusign/keystore
    certStoreType: auto
    certPassword: secretsmanager:prod/docusign/keystore#password
    certAlias: docusign
    keyPassword: env:DOCUSIGN_KEY_PASSWORD
    redirectUri: https://broker.example.com:443/consent/callback
    authUri: https://account-d.docusign.com/oauth/auth
    clientSecret: secretsmanager:prod/docusign/client-secret
    headers: { response_type: code }
    grant: jwt-bearer
    assertion: { lifetime: 3600, algorithm: auto, x5t: true, claims: {} }
    callers: ["arn:aws:iam::123456789012:role/billing-*"]
    refresh: { subjects: [jsmith@example.com], before: 300 }
cache:
  store: dynamodb
  table: token-broker-cache
  endpoint: http://127.0.0.1:8000
  sealKey: secretsmanager:token-broker/cache-key
  refreshMargin: 120
consent:
  stateKey: secretsmanager:token-broker/consent-state-key
server:
  apiKeys: { "sha256:${'ab'.repeat(32)}": team-billing }
  sigv4:
    region: eu-west-1
    credentials:
      AKIAIOSFODNN7EXAMPLE: { secret: env:LOCAL_SIGV4_SECRET, caller: "arn:aws:iam::123456789012:role/billing-app" }
`;

describe('parseConfig', () => {
  it('accepts every key of the DESIGN.md profile and top-level settings', () => {
    const cfg = parseConfig(DESIGN_EXAMPLE, 'design.yaml');
    const p = cfg.profiles['docusign']!;
    expect(p).toMatchObject({
      name: 'docusign',
      provider: 'docusign-demo',
      issuer: '1a2b3c4d5e_6f7g8h9g',
      subjects: ['*@example.com'],
      tokenUri: { method: 'POST', url: 'https://account-d.docusign.com/oauth/token' },
      audience: 'account-d.docusign.com',
      scopes: ['signature', 'impersonation'],
      scopeIn: 'assertion',
      certAlias: 'docusign',
      redirectUri: 'https://broker.example.com:443/consent/callback',
      headers: { response_type: 'code' },
      grant: 'jwt-bearer',
      assertion: {
        lifetime: 3600,
        skew: 30,
        algorithm: 'auto',
        x5t: true,
        x5tS256: false,
        x5c: false,
        kid: false,
      },
      callers: ['arn:aws:iam::123456789012:role/billing-*'],
      refresh: { subjects: ['jsmith@example.com'], before: 300 },
      consentErrors: [{ error: 'consent_required' }, { error: 'interaction_required' }],
      pkce: true,
    });
    expect(cfg.cache).toEqual({
      store: 'dynamodb',
      table: 'token-broker-cache',
      endpoint: 'http://127.0.0.1:8000',
      region: undefined,
      sealKey: 'secretsmanager:token-broker/cache-key',
      refreshMargin: 120,
    });
    expect(cfg.consent.stateKey).toBe('secretsmanager:token-broker/consent-state-key');
    expect(cfg.server.apiKeys).toEqual({ [`sha256:${'ab'.repeat(32)}`]: 'team-billing' });
    expect(cfg.server.sigv4?.credentials['AKIAIOSFODNN7EXAMPLE']?.caller).toBe(
      'arn:aws:iam::123456789012:role/billing-app',
    );
    expect(cfg.source).toBe('design.yaml');
  });

  it('returns deeply frozen objects', () => {
    const cfg = parseConfig(DESIGN_EXAMPLE, 'design.yaml');
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.profiles['docusign']!.assertion.claims)).toBe(true);
    expect(Object.isFrozen(cfg.profiles['docusign']!.subjects)).toBe(true);
    expect(() => (cfg.profiles['docusign']!.subjects as string[]).push('x')).toThrow(TypeError);
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({
      profiles: { api: { issuer: 'c', certStore: 'env:KEY', tokenUri: 'https://a.example.com/token' } },
    });
    const cfg = parseConfig(json, 'c.json');
    expect(cfg.profiles['api']!.tokenUri).toEqual({ method: 'POST', url: 'https://a.example.com/token' });
  });

  it('applies defaults: subjects [subject], callers deny, audience = token URI, POST, memory cache', () => {
    const cfg = parseConfig(config(yamlProfile('api', { subject: 'svc@example.com' })), 'c.yaml');
    const p = cfg.profiles['api']!;
    expect(p.subjects).toEqual(['svc@example.com']);
    expect(p.callers).toEqual([]);
    expect(p.audience).toBe('https://auth.example.com/oauth/token');
    expect(p.clientId).toBe('client-1');
    expect(p.provider).toBe('generic');
    expect(p.certStoreType).toBe('auto');
    expect(p.scopes).toEqual([]);
    expect(p.headers).toEqual({});
    expect(p.assertion).toEqual({
      lifetime: 300,
      skew: 30,
      algorithm: 'auto',
      x5t: false,
      x5tS256: false,
      x5c: false,
      kid: false,
      typ: 'JWT',
      claims: {},
    });
    expect(cfg.cache).toMatchObject({ store: 'memory', table: 'token-broker-cache', refreshMargin: 300 });
    expect(cfg.server).toEqual({ apiKeys: {}, sigv4: undefined });
    expect(cfg.warnings).toEqual([]);
  });

  it('gives no subjects when there is no subject', () => {
    const cfg = parseConfig(config(yamlProfile('api')), 'c.yaml');
    expect(cfg.profiles['api']!.subjects).toEqual([]);
  });

  it('rejects unknown keys with "did you mean"', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('docusign', { tokenUrl: 'https://x.example.com' })), 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'profile "docusign": tokenUrl: unknown key "tokenUrl"; did you mean "tokenUri"?',
    );
  });

  it('rejects unknown keys inside assertion and at the top level', () => {
    const text = config(yamlProfile('a', { assertion: '{ lifetme: 60 }' })) + 'cahce: {}\n';
    const err = thrown(() => parseConfig(text, 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message.split('\n')).toEqual([
      'profile "a": assertion.lifetme: unknown key "lifetme"; did you mean "lifetime"?',
      'cahce: unknown key "cahce"; did you mean "cache"?',
    ]);
  });

  it('lists unrelated unknown keys without a guess', () => {
    const err = thrown(() => parseConfig(config(yamlProfile('a')) + 'zzzzzzzz: 1\n', 'c.yaml'));
    expect(err.message).toBe(
      'zzzzzzzz: unknown key "zzzzzzzz"; known keys: profiles, cache, consent, server',
    );
  });

  it('suggests the closest provider name', () => {
    const err = thrown(() => parseConfig(config(yamlProfile('a', { provider: 'docusgn' })), 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toMatch(
      /^profile "a": provider: must be one of "docusign", .* got "docusgn"; did you mean "docusign"\?$/,
    );
  });

  it('rejects duplicate profile names', () => {
    const err = thrown(() => parseConfig(config(yamlProfile('a'), yamlProfile('a')), 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'c.yaml: duplicate key "a" (line 6, column 3): each profile and key may appear only once',
    );
  });

  it('reports a YAML syntax error with its position', () => {
    const err = thrown(() => parseConfig('profiles: [\n', 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toMatch(/^c\.yaml: .*\(line \d+, column \d+\)$/);
  });

  it('rejects an empty file and missing required keys', () => {
    expect(thrown(() => parseConfig('', 'c.yaml')).message).toBe(
      'c.yaml: the file is empty; it needs a "profiles:" mapping',
    );
    const err = thrown(() =>
      parseConfig('profiles:\n  a:\n    tokenUri: https://x.example.com/t\n', 'c.yaml'),
    );
    expect(err.message.split('\n')).toEqual([
      'profile "a": issuer: required',
      'profile "a": certStore: required',
    ]);
    expect(thrown(() => parseConfig('cache: {}\n', 'c.yaml')).message).toBe('profiles: required');
  });

  it('names wrong types', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { callers: 'arn:aws:iam::1:role/x' })), 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe('profile "a": callers: expected array, got a string');
  });

  it('rejects bad profile names', () => {
    const err = thrown(() => parseConfig(config(yamlProfile('bad name!')), 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toMatch(/^profile "bad name!": profile names are letters, digits/);
  });

  it('lists several problems one complete message per line', () => {
    const text = config(
      yamlProfile('one', { tokenUri: 'PUT https://x.example.com/t' }),
      yamlProfile('two', { certStore: 'vault:kv/x' }),
    );
    const err = thrown(() => parseConfig(text, 'c.yaml'));
    expect(err.message.split('\n')).toEqual([
      'profile "one": tokenUri: method must be GET or POST, got "PUT"',
      'profile "two": certStore: not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
    ]);
  });

  it('rejects reserved claims in assertion.claims', () => {
    const err = thrown(() =>
      parseConfig(
        config(yamlProfile('a', { assertion: '{ claims: { aud: x, tenant: t, jti: j } }' })),
        'c.yaml',
      ),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message.split('\n')).toEqual([
      'profile "a": assertion.claims.aud: "aud" is set by the broker and cannot be overridden; remove it',
      'profile "a": assertion.claims.jti: "jti" is set by the broker and cannot be overridden; remove it',
    ]);
  });

  it('keeps extra claims and header options', () => {
    const cfg = parseConfig(
      config(
        yamlProfile('a', {
          assertion: '{ claims: { tenant: t1 }, x5c: true, x5tS256: true, kid: k1, algorithm: PS256 }',
        }),
      ),
      'c.yaml',
    );
    expect(cfg.profiles['a']!.assertion).toMatchObject({
      claims: { tenant: 't1' },
      x5c: true,
      x5tS256: true,
      kid: 'k1',
      algorithm: 'PS256',
    });
  });

  it('rejects a bad algorithm, lifetime and skew', () => {
    const err = thrown(() =>
      parseConfig(
        config(yamlProfile('a', { assertion: '{ algorithm: HS256, lifetime: 0, skew: 1.5 }' })),
        'c.yaml',
      ),
    );
    const lines = err.message.split('\n');
    expect(lines[0]).toMatch(/^profile "a": assertion\.lifetime: must be above 0$/);
    expect(lines).toContain('profile "a": assertion.skew: must be a whole number of seconds');
    expect(
      lines.some((l) => l.startsWith('profile "a": assertion.algorithm: must be one of "auto", "RS256"')),
    ).toBe(true);
  });

  it('requires refresh subjects when the profile has no subject, and defaults before', () => {
    const err = thrown(() => parseConfig(config(yamlProfile('a', { refresh: '{}' })), 'c.yaml'));
    expect(err.message).toBe('profile "a": refresh.subjects: required when the profile has no subject');
    const cfg = parseConfig(config(yamlProfile('a', { refresh: '{}', subject: 'u@example.com' })), 'c.yaml');
    expect(cfg.profiles['a']!.refresh).toEqual({ subjects: ['u@example.com'], before: 300 });
  });

  it('validates secret references of profiles and top-level settings', () => {
    const text =
      config(yamlProfile('a', { certPassword: 'env:1BAD', clientSecret: 'secretsmanager:bad name' })) +
      'cache: { sealKey: "s3:bucket/key" }\nconsent: { stateKey: "secretsmanager:arn:aws:secretsmanager:eu-west-1:12:secret:x" }\n';
    const err = thrown(() => parseConfig(text, 'c.yaml'));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message.split('\n')).toEqual([
      'profile "a": certPassword: env: needs a variable name of letters, digits and _',
      'profile "a": clientSecret: a secret name holds only letters, digits and /_+=.@-',
      'cache.sealKey: not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
      'consent.stateKey: not a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
    ]);
  });

  it('validates top-level settings', () => {
    const text =
      config(yamlProfile('a')) +
      'cache: { store: redis, endpoint: "http://db.example.com:8000" }\nserver: { apiKeys: { abc: x } }\n';
    const err = thrown(() => parseConfig(text, 'c.yaml'));
    const lines = err.message.split('\n');
    expect(lines[0]).toBe('cache.store: must be one of "memory", "dynamodb", got "redis"');
    expect(lines[1]).toBe(
      'server.apiKeys: an entry is not "sha256:<64 lower-case hex>"; put the SHA-256 of the key, never the key',
    );
  });

  it('rejects an http cache endpoint that is not loopback', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a')) + 'cache: { endpoint: "http://db.example.com:8000" }\n', 'c.yaml'),
    );
    expect(err.message).toBe(
      'cache.endpoint: must use https (http only for loopback hosts such as 127.0.0.1), got "http://db.example.com:8000"',
    );
  });

  it('rejects headers with bad names or values', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { headers: '{ "bad name": x }' })), 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'profile "a": headers: an entry\'s name is not an HTTP token; write { Name: value }, a secret value by reference',
    );
  });
});
