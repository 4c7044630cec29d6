import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { isLoopbackHost } from '../../lib/config/uri.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const load = (extra: Record<string, string>) =>
  parseConfig(config(yamlProfile('a', extra)), 'c.yaml').profiles['a']!;
const problem = (extra: Record<string, string>) =>
  thrown(() => parseConfig(config(yamlProfile('a', extra)), 'c.yaml'));
const FIX = 'set allowPrivateNetwork: true on the profile only if the endpoint really lives there';

describe('secret-bearing keys in config errors', () => {
  const RAW_KEY = 'tbk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0';

  it('names server.apiKeys, never a raw key written as an entry', () => {
    const err = thrown(() =>
      parseConfig(`${config(yamlProfile('a'))}server:\n  apiKeys: { "${RAW_KEY}": team }\n`, 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'server.apiKeys: an entry is not "sha256:<64 lower-case hex>"; put the SHA-256 of the key, never the key',
    );
  });

  it('gives one line for raw keys whose values are wrong too', () => {
    const err = thrown(() =>
      parseConfig(
        `${config(yamlProfile('a'))}server:\n  apiKeys: { "${RAW_KEY}": "", other-raw-key: 3 }\n`,
        'c.yaml',
      ),
    );
    expect(err.message).toBe(
      'server.apiKeys: an entry is not "sha256:<64 lower-case hex>"; put the SHA-256 of the key, never the key',
    );
  });

  it('does not name a duplicated raw API key', () => {
    const err = thrown(() =>
      parseConfig(
        `${config(yamlProfile('a'))}server:\n  apiKeys:\n    ${RAW_KEY}: a\n    ${RAW_KEY}: b\n`,
        'c.yaml',
      ),
    );
    expect(err.message).toBe(
      'c.yaml: duplicate key in server.apiKeys (line 9, column 5): each key may appear only once',
    );
  });

  it('does not repeat an unknown key under server, which may be an API key missing apiKeys:', () => {
    const err = thrown(() =>
      parseConfig(`${config(yamlProfile('a'))}server:\n  ${RAW_KEY}: team\n`, 'c.yaml'),
    );
    expect(err.message).toBe(
      'server: an unknown key (not repeated: it may be a secret); known keys: apiKeys, sigv4',
    );
    const typo = thrown(() => parseConfig(`${config(yamlProfile('a'))}server:\n  apiKey: {}\n`, 'c.yaml'));
    expect(typo.message).toBe('server.apiKey: unknown key "apiKey"; did you mean "apiKeys"?');
  });

  it('names server.sigv4.credentials, never a secret access key written as its id', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const err = thrown(() =>
      parseConfig(
        `${config(yamlProfile('a'))}server:\n  sigv4:\n    region: eu-west-1\n    credentials:\n      "${secret}": { secret: env:S, caller: me }\n`,
        'c.yaml',
      ),
    );
    expect(err.message).toBe(
      'server.sigv4.credentials: an entry is not keyed by an access key id (16 to 128 upper-case letters or digits); the secret access key goes in "secret", by reference',
    );
  });

  it('does not echo a header or parameter written whole as its name', () => {
    const err = problem({
      headers: '{ "Authorization: Bearer sk_live_abc123": x }',
      params: '{ "client_secret=sk_live_abc123": y }',
    });
    expect(err.message.split('\n')).toEqual([
      'profile "a": headers: an entry\'s name is not an HTTP token; write { Name: value }, a secret value by reference',
      'profile "a": params: an entry\'s name is not letters, digits, "_", ".", ":" and "-" (at most 64); write { name: value }, a secret value by reference',
    ]);
  });

  it('does not echo query values of a URL it refuses', () => {
    expect(problem({ tokenUri: 'http://idp.example.com/token?tenant=t1&x=y' }).message).toBe(
      'profile "a": tokenUri: must use https (http only for loopback hosts such as 127.0.0.1), got "http://idp.example.com/token?tenant=…&x=…"',
    );
  });
});

describe('http only for loopback, literally', () => {
  it.each(['http://idp.localhost/token', 'http://localhost.example.com/token', 'http://localhost./token'])(
    'refuses http to %s',
    (tokenUri) => {
      expect(problem({ tokenUri }).message).toBe(
        `profile "a": tokenUri: must use https (http only for loopback hosts such as 127.0.0.1), got "${tokenUri}"`,
      );
    },
  );

  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['[::1]', true],
    ['idp.localhost', false],
    ['localhost.', false],
    ['[::ffff:7f00:1]', false],
  ])('isLoopbackHost(%s) is %s', (host, expected) => expect(isLoopbackHost(host)).toBe(expected));
});

describe('private, link-local and metadata addresses', () => {
  it.each([
    ['https://169.254.169.254/token', '169.254.169.254 is a cloud metadata address'],
    ['https://[fd00:ec2::254]/token', 'fd00:ec2::254 is a cloud metadata address'],
    ['https://metadata.google.internal/token', 'metadata.google.internal is a cloud metadata service'],
    ['https://169.254.10.1/token', '169.254.10.1 is a link-local address (169.254.0.0/16)'],
    ['https://[fe80::1]/token', 'fe80::1 is a link-local address (fe80::/10)'],
    ['https://10.1.2.3/token', '10.1.2.3 is a private address (10.0.0.0/8)'],
    ['https://172.20.0.1/token', '172.20.0.1 is a private address (172.16.0.0/12)'],
    ['https://192.168.1.1/token', '192.168.1.1 is a private address (192.168.0.0/16)'],
    ['https://100.100.100.200/token', '100.100.100.200 is a private address (100.64.0.0/10)'],
    ['https://[fd12:3456::1]/token', 'fd12:3456::1 is a private address (fc00::/7)'],
    ['https://0.0.0.0/token', '0.0.0.0 is an unspecified address (0.0.0.0/8)'],
    // Other spellings of the metadata address parse to it.
    ['https://2852039166/token', '169.254.169.254 is a cloud metadata address'],
    ['https://[::ffff:169.254.169.254]/token', '::ffff:a9fe:a9fe is a cloud metadata address'],
  ])('refuses a token URI at %s', (tokenUri, why) => {
    const err = problem({ tokenUri });
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(`profile "a": tokenUri: ${why}; ${FIX}`);
  });

  it('refuses auth and redirect URIs there too', () => {
    expect(
      problem({
        authUri: 'https://10.0.0.5/authorize',
        redirectUri: 'https://192.168.0.9:443/consent/callback',
      }).message.split('\n'),
    ).toEqual([
      `profile "a": redirectUri: 192.168.0.9 is a private address (192.168.0.0/16); ${FIX}`,
      `profile "a": authUri: 10.0.0.5 is a private address (10.0.0.0/8); ${FIX}`,
    ]);
  });

  it('accepts them with allowPrivateNetwork: true', () => {
    const p = load({
      tokenUri: 'https://10.1.2.3/token',
      authUri: 'https://169.254.169.254/authorize',
      redirectUri: 'https://192.168.0.9:443/consent/callback',
      allowPrivateNetwork: 'true',
    });
    expect(p.tokenUri.url).toBe('https://10.1.2.3/token');
    expect(p.authUri).toBe('https://169.254.169.254/authorize');
  });

  it('keeps loopback, public addresses and DNS names', () => {
    expect(load({ tokenUri: 'http://127.0.0.1:8080/token' }).tokenUri.url).toBe(
      'http://127.0.0.1:8080/token',
    );
    expect(load({ tokenUri: 'http://[::1]:9/token' }).tokenUri.url).toBe('http://[::1]:9/token');
    expect(load({ tokenUri: 'https://172.32.0.1/token' }).tokenUri.url).toBe('https://172.32.0.1/token');
    expect(load({ tokenUri: 'https://idp.internal.example/token' }).tokenUri.url).toBe(
      'https://idp.internal.example/token',
    );
  });

  it('refuses a value that is not a boolean', () => {
    expect(problem({ allowPrivateNetwork: 'yes' }).message).toBe(
      'profile "a": allowPrivateNetwork: expected boolean, got a string',
    );
  });
});

describe('secrets in a token URI query', () => {
  it.each(['client_secret', 'password', 'api_key', 'apiKey', 'access_token', 'client-assertion', 'sig'])(
    'refuses ?%s=… with the fix, never the value',
    (name) => {
      const err = problem({ tokenUri: `https://idp.example.com/token?${name}=s3cr3t-value` });
      expect(err.code).toBe('ERR_CONFIG');
      expect(err.message).toBe(
        `profile "a": tokenUri: the query parameter "${name}" may carry a secret; remove it from the URI and give it in params (params: { ${name}: env:VAR })`,
      );
      expect(err.message).not.toContain('s3cr3t');
    },
  );

  it('does not name a parameter that may be the secret itself', () => {
    const err = problem({
      tokenUri: 'https://idp.example.com/token?token3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1',
    });
    expect(err.message).toBe(
      'profile "a": tokenUri: a query parameter may carry a secret; remove it from the URI and give it in params (params: { name: env:VAR })',
    );
  });

  it('keeps a query whose names carry no secret (RFC 6749 §3.2 allows one)', () => {
    expect(load({ tokenUri: 'https://idp.example.com/token?api-version=1.0' }).tokenUri.url).toBe(
      'https://idp.example.com/token?api-version=1.0',
    );
  });
});

describe('responseFields names', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('refuses %s with one line', (name) => {
    const err = problem({ responseFields: `["${name}"]` });
    expect(err.message).toBe(
      'profile "a": responseFields.0: names part of a JavaScript object, not a provider field; remove it',
    );
  });

  it('refuses refresh_token and a string that is not a name, one line each', () => {
    expect(problem({ responseFields: '[refresh_token, "instance url"]' }).message.split('\n')).toEqual([
      'profile "a": responseFields.0: refresh_token is never passed on; remove it',
      'profile "a": responseFields.1: field names are letters, digits, "_", ".", ":" and "-" (at most 64)',
    ]);
  });
});
