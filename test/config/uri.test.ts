import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { isLoopbackHost } from '../../lib/config/uri.ts';
import { config, thrown, yamlProfile } from './helpers.ts';

const endpoint = (tokenUri: string) =>
  parseConfig(config(yamlProfile('docusign', { tokenUri: JSON.stringify(tokenUri) })), 'c.yaml').profiles[
    'docusign'
  ]!;

const problemOf = (extra: Record<string, string>) =>
  thrown(() => parseConfig(config(yamlProfile('docusign', extra)), 'c.yaml'));

describe('tokenUri', () => {
  it.each([
    ['https://a.example.com/token', 'POST'],
    ['POST https://a.example.com/token', 'POST'],
    ['GET https://a.example.com/token', 'GET'],
    ['get https://a.example.com/token', 'GET'],
    ['  Post \t  https://a.example.com/token  ', 'POST'],
    ['gEt\thttps://a.example.com/token', 'GET'],
  ])('reads %j as %s', (written, method) => {
    const p = endpoint(written);
    expect(p.tokenUri).toEqual({ method, url: 'https://a.example.com/token' });
    expect(p.audience).toBe('https://a.example.com/token');
  });

  it('rejects a method other than GET or POST', () => {
    const err = problemOf({ tokenUri: 'PUT https://a.example.com/token' });
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe('profile "docusign": tokenUri: method must be GET or POST, got "PUT"');
  });

  it('rejects plain http to a non-loopback host', () => {
    const err = problemOf({ tokenUri: 'http://a.example.com/token' });
    expect(err.message).toBe(
      'profile "docusign": tokenUri: must use https (http only for loopback hosts such as 127.0.0.1), got "http://a.example.com/token"',
    );
  });

  it.each([
    'http://127.0.0.1:8080/token',
    'http://127.4.5.6/token',
    'http://localhost:3000/t',
    'http://[::1]:9/t',
  ])('allows http to loopback %s', (url) => {
    expect(endpoint(url).tokenUri.url).toBe(url);
  });

  it('rejects relative URLs, fragments, credentials and other schemes', () => {
    expect(problemOf({ tokenUri: '/oauth/token' }).message).toBe(
      'profile "docusign": tokenUri: must be an absolute URL such as https://example.com/oauth/token, got "/oauth/token"',
    );
    expect(problemOf({ tokenUri: 'https://a.example.com/t#x' }).message).toBe(
      'profile "docusign": tokenUri: must not have a fragment ("#…"), got "https://a.example.com/t#x"',
    );
    expect(problemOf({ tokenUri: 'https://u:p@a.example.com/t' }).message).toBe(
      'profile "docusign": tokenUri: must not carry a user name or password; give secrets by reference',
    );
    expect(problemOf({ tokenUri: 'ftp://a.example.com/t' }).message).toBe(
      'profile "docusign": tokenUri: must be an https URL, got "ftp://a.example.com/t"',
    );
  });

  it('requires a token URI for the generic preset', () => {
    const err = problemOf({ tokenUri: '' });
    expect(err.message).toBe(
      'profile "docusign": tokenUri: required (the token endpoint, optionally prefixed with "GET " or "POST ")',
    );
  });
});

describe('redirectUri and authUri', () => {
  it.each([
    'http://localhost:8080',
    'https://broker.example.com:443/consent/callback',
    'http://[::1]:3000/cb',
  ])('accepts %s with its explicit port, kept as written', (uri) => {
    const p = parseConfig(config(yamlProfile('a', { redirectUri: JSON.stringify(uri) })), 'c.yaml').profiles[
      'a'
    ]!;
    expect(p.redirectUri).toBe(uri);
  });

  it('rejects a redirect URI without a port', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { redirectUri: 'https://broker.example.com/cb' })), 'c.yaml'),
    );
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toBe(
      'profile "a": redirectUri: must carry an explicit port, e.g. https://broker.example.com:443/consent/callback; got "https://broker.example.com/cb"',
    );
  });

  it('rejects a relative or http non-loopback redirect URI', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { redirectUri: '/consent/callback' })), 'c.yaml'),
    );
    expect(err.message).toBe(
      'profile "a": redirectUri: must be an absolute URL such as https://example.com/oauth/token, got "/consent/callback"',
    );
    const http = thrown(() =>
      parseConfig(config(yamlProfile('a', { redirectUri: 'http://broker.example.com:80/cb' })), 'c.yaml'),
    );
    expect(http.message).toBe(
      'profile "a": redirectUri: must use https (http only for loopback hosts such as 127.0.0.1), got "http://broker.example.com:80/cb"',
    );
  });

  it('requires https for authUri except loopback', () => {
    const err = thrown(() =>
      parseConfig(config(yamlProfile('a', { authUri: 'http://idp.example.com/auth' })), 'c.yaml'),
    );
    expect(err.message).toBe(
      'profile "a": authUri: must use https (http only for loopback hosts such as 127.0.0.1), got "http://idp.example.com/auth"',
    );
    const ok = parseConfig(config(yamlProfile('a', { authUri: 'http://127.0.0.1:9000/auth' })), 'c.yaml');
    expect(ok.profiles['a']!.authUri).toBe('http://127.0.0.1:9000/auth');
  });
});

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['localhost', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['127.example.com', false],
    ['example.com', false],
  ])('%s -> %s', (host, expected) => expect(isLoopbackHost(host)).toBe(expected));
});
