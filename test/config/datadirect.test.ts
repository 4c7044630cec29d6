import { describe, expect, it } from 'vitest';
import { parseConnectionString } from '../../lib/config/connection-string.ts';
import { importDataDirect, importedYaml } from '../../lib/config/datadirect.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { readOdbcIniSection } from '../../lib/config/odbc-ini.ts';
import { DATADIRECT_SEED, thrown } from './helpers.ts';

const base =
  'AuthenticationMethod=55;ClaimsIssuer=iss;JWTCertStore=k.p12;TokenURI=https://a.example.com/token;';
const run = (text: string, options = {}) => importDataDirect(parseConnectionString(text), options);

describe('importDataDirect', () => {
  it('imports the DocuSign seed example to a valid profile', () => {
    const result = run(DATADIRECT_SEED);
    expect(result.name).toBe('docusign');
    expect(result.profile).toEqual({
      provider: 'docusign-demo',
      issuer: '1a2b3c4d5e_6f7g8h9g',
      subject: 'jsmith@example.com',
      tokenUri: 'https://account-d.docusign.com/oauth/token',
      scope: 'signature impersonation',
      certStore: 'file:jwtcert.jks',
      certPassword: 'env:TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD',
      headers: { response_type: 'env:TOKEN_BROKER_DOCUSIGN_SECURITY_TOKEN' },
    });
    const cfg = parseConfig(importedYaml(result), 'imported.yaml');
    const p = cfg.profiles['docusign']!;
    expect(p.audience).toBe('account-d.docusign.com');
    expect(p.tokenUri).toEqual({ method: 'POST', url: 'https://account-d.docusign.com/oauth/token' });
    expect(p.scopeIn).toBe('assertion');
    // DataDirect's RedirectURI pointed at its own listener: kept as a comment, not as redirectUri.
    expect(p.redirectUri).toBeUndefined();
    expect(importedYaml(result)).toContain(
      '  # DataDirect RedirectURI was http://localhost:3000 (its own listener; not imported)\n  docusign:\n',
    );
    expect(result.notes).toEqual([
      'provider docusign-demo detected from TokenURI',
      'TokenURI has no method prefix: token-broker POSTs it (RFC 6749 §3.2), where DataDirect would have used GET; write "GET https://account-d.docusign.com/oauth/token" to keep GET',
      'JWTCertStore is read from file:jwtcert.jks; store the keystore in Secrets Manager (secretsmanager:<name>) for deployment',
      'JWTCertPassword is not printed: set TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD, or change the reference to secretsmanager:<name>',
      "RedirectURI http://localhost:3000 is not imported: register https://<your broker>:443/consent/callback with the provider as the redirect URI and set redirectUri to it; DataDirect's RedirectURI pointed at its own listener",
      'SecurityToken is not printed: set TOKEN_BROKER_DOCUSIGN_SECURITY_TOKEN, or change the reference to secretsmanager:<name>',
      'ignored (not used by token-broker): DRIVER, RestConfigFile',
    ]);
  });

  it('never prints a password unless asked', () => {
    const yaml = importedYaml(run(DATADIRECT_SEED));
    expect(yaml).not.toContain('secret\n');
    expect(yaml).not.toMatch(/: code$/m);
    const inline = run(DATADIRECT_SEED, { includeSecrets: true, profile: 'ds' });
    expect(inline.profile['certPassword']).toBe('plain:secret');
    expect(inline.profile['headers']).toEqual({ response_type: 'code' });
    expect(parseConfig(importedYaml(inline), 'x').profiles['ds']!.certPassword).toBe('plain:secret');
  });

  it('round-trips: the YAML loads through parseConfig unchanged', () => {
    const result = run(DATADIRECT_SEED);
    const yaml = importedYaml(result);
    const cfg = parseConfig(yaml, 'imported.yaml');
    expect(cfg.profiles['docusign']!.certPassword).toBe(result.profile['certPassword']);
    expect(cfg.profiles['docusign']!.headers).toEqual(result.profile['headers']);
    expect(cfg.profiles['docusign']!.subject).toBe(result.profile['subject']);
  });

  it('keeps a GET or POST prefix of TokenURI', () => {
    expect(run(base.replace('TokenURI=', 'TokenURI=get  ')).profile['tokenUri']).toBe(
      'GET https://a.example.com/token',
    );
    const post = run(base.replace('TokenURI=', 'TokenURI=POST '));
    expect(post.profile['tokenUri']).toBe('POST https://a.example.com/token');
    expect(post.notes.some((n) => n.startsWith('TokenURI has no method prefix'))).toBe(false);
  });

  it.each(['55', 'OAuth2-JWTBearer', 'oauth2-jwtbearer', '24', 'OAuth2'])(
    'accepts AuthenticationMethod=%s',
    (method) => {
      const result = run(base.replace('=55', `=${method}`));
      expect(result.profile['issuer']).toBe('iss');
    },
  );

  it('rejects other AuthenticationMethod values with ERR_AUTH_METHOD', () => {
    const err = thrown(() => run(base.replace('=55', '=1')));
    expect(err.code).toBe('ERR_AUTH_METHOD');
    expect(err.message).toBe(
      'AuthenticationMethod "1" is not an OAuth 2.0 JWT bearer method; token-broker imports 55 (OAuth2-JWTBearer) or 24 (OAuth2)',
    );
  });

  it('names missing required options', () => {
    const err = thrown(() => run('AuthenticationMethod=55;ClaimsSubject=x'));
    expect(err.code).toBe('ERR_CONNECTION_STRING');
    expect(err.message).toBe(
      'connection string: ClaimsIssuer, JWTCertStore, TokenURI missing; a JWT bearer profile needs each',
    );
  });

  it('maps alias, client id/secret, secret references and SecurityToken without AuthHeader', () => {
    const result = run(
      base.replace('k.p12', 'secretsmanager:prod/ks') +
        'JWTCertAlias=docusign;ClientID=cid;ClientSecret=shh;SecurityToken=t0k3n;JWTCertPassword=env:MY_PW',
      { profile: 'api' },
    );
    expect(result.profile).toMatchObject({
      certStore: 'secretsmanager:prod/ks',
      certAlias: 'docusign',
      clientId: 'cid',
      clientSecret: 'env:TOKEN_BROKER_API_CLIENT_SECRET',
      certPassword: 'env:MY_PW',
      headers: { Authorization: 'env:TOKEN_BROKER_API_SECURITY_TOKEN' },
    });
    expect(JSON.stringify(result)).not.toContain('shh');
    expect(JSON.stringify(result)).not.toContain('t0k3n');
  });

  it('keeps a SecurityToken written as a reference, without calling it inline', () => {
    const result = run(base + 'AuthHeader=X-Token;SecurityToken=env:MY_TOKEN');
    expect(result.profile['headers']).toEqual({ 'X-Token': 'env:MY_TOKEN' });
    expect(result.notes.filter((note) => note.startsWith('SecurityToken'))).toEqual([]);
  });
});

describe('readOdbcIniSection', () => {
  const INI = `[ODBC Data Sources]
DocuSign=DataDirect 8.0 Autonomous REST Connector

; the seed's data source
[DocuSign]
# comments with ; and # are skipped
${DATADIRECT_SEED}Description=value with ; and { brace

[Other]
ClaimsIssuer=other
`;

  it('reads the seed lines from a [DSN] section picked case-insensitively', () => {
    const options = readOdbcIniSection(INI, 'docusign');
    const result = importDataDirect(options, { dsn: 'DocuSign' });
    expect(result.name).toBe('DocuSign');
    expect(result.profile['issuer']).toBe('1a2b3c4d5e_6f7g8h9g');
    expect(options.get('Description')).toBe('value with ; and { brace');
    expect(parseConfig(importedYaml(result), 'x').profiles['DocuSign']!.audience).toBe(
      'account-d.docusign.com',
    );
  });

  it('names the sections when the DSN is missing', () => {
    const err = thrown(() => readOdbcIniSection(INI, 'Nope'));
    expect(err.code).toBe('ERR_CONNECTION_STRING');
    expect(err.message).toBe('odbc.ini has no [Nope] section; data sources: DocuSign, Other');
  });

  it('rejects a line without "="', () => {
    const err = thrown(() => readOdbcIniSection('[A]\njust text\n', 'A'));
    expect(err.code).toBe('ERR_CONNECTION_STRING');
    expect(err.message).toBe('odbc.ini line 2: expected Key=Value in [A]');
  });
});
