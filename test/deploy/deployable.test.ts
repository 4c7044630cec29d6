/**
 * The profiles file as deployed (lib/deploy/deployable.ts) and the roles derived from the
 * same references (lib/deploy/policies.ts), without packaging.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { checkDeployment, formatProblem } from '../../lib/deploy/deployable.ts';
import { parseKeyList } from '../../lib/deploy/params.ts';
import { rolePolicies, type Statement } from '../../lib/deploy/policies.ts';

let service: string;
beforeAll(() => {
  service = mkdtempSync(join(tmpdir(), 'tb-deployable-'));
  mkdirSync(join(service, 'config/keys'), { recursive: true });
  writeFileSync(join(service, 'config/keys/signer.p12'), 'not read here');
});
afterAll(() => rmSync(service, { recursive: true, force: true }));

const CALLERS = "callers: ['arn:aws:iam::123456789012:role/billing-*']";
const profile = (name: string, extra: string) => `
  ${name}:
    provider: generic
    issuer: ${name}-client
    subject: jsmith@example.com
    tokenUri: POST https://login.example.com/oauth/token
    ${extra.trim().split('\n').join('\n    ')}`;

function check(yaml: string, options: { domainName?: string; path?: string } = {}) {
  const path = options.path ?? 'config/token-broker.yaml';
  const config = parseConfig(yaml, join(service, path));
  const result = checkDeployment(config, {
    profilesPath: path,
    serviceDir: service,
    cacheSealKey: 'secretsmanager:token-broker/prod/cache-key',
    domainName: options.domainName,
  });
  return { lines: result.problems.map(formatProblem), files: result.files };
}

describe('checkDeployment', () => {
  it('accepts secrets by name under any prefix, by ARN, KMS keys and packaged relative files', () => {
    const { lines, files } = check(`profiles:${profile(
      'named',
      `certStore: secretsmanager:security-team/docusign/keystore
certPassword: secretsmanager:security-team/docusign/keystore#password
${CALLERS}`,
    )}${profile(
      'by-arn',
      `certStore: secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/keystore-AbCdEf
${CALLERS}`,
    )}${profile('kms', `certStore: kms:alias/signing\n${CALLERS}`)}${profile(
      'file',
      `certStore: file:keys/signer.p12\ncertPassword: secretsmanager:p\n${CALLERS}`,
    )}
`);
    expect(lines).toEqual([]);
    expect(files).toEqual(['config/keys/signer.p12']);
  });

  it('names each secret the functions could not read in Lambda, one line each with the fix', () => {
    const { lines } = check(`profiles:${profile(
      'docusign',
      `certStore: file:/home/me/jwtcert.jks
certPassword: env:TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD
keyPassword: plain:hunter2-inline
certificate: file:../../outside.pem
headers: { response_type: env:SECURITY_TOKEN, x-static: literal }
params: { client_secret: file:keys/missing.txt }
${CALLERS}`,
    )}
`);
    const fix = 'put the value in Secrets Manager and write secretsmanager:<name>';
    expect(lines).toEqual([
      `profile docusign: certStore: file:/home/me/jwtcert.jks is a path on this machine, not in the package; ${fix}, or keep the file inside the project and give its path relative to the profiles file`,
      `profile docusign: certPassword: env:TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD is not set in the deployed functions; ${fix}`,
      `profile docusign: keyPassword: the value is written inline and would be packaged in every zip; put it in Secrets Manager and write secretsmanager:<name>`,
      `profile docusign: certificate: file:../../outside.pem lies outside what is packaged; ${fix}, or keep the file inside the project and give its path relative to the profiles file`,
      `profile docusign: headers.response_type: env:SECURITY_TOKEN is not set in the deployed functions; ${fix}`,
      `profile docusign: params.client_secret: file:keys/missing.txt does not exist (looked for config/keys/missing.txt); ${fix}, or keep the file inside the project and give its path relative to the profiles file`,
    ]);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('accepts env: only for variables the template sets', () => {
    const yaml = `profiles:${profile('p', `certStore: secretsmanager:k\nheaders: { x-log: env:POWERTOOLS_LOG_LEVEL }\n${CALLERS}`)}\n`;
    expect(check(yaml).lines).toEqual([]);
  });

  it('needs consent.stateKey, authUri and an https redirectUri for a consent profile, once for the state key', () => {
    const consent = (name: string, redirect: string) =>
      profile(
        name,
        `certStore: secretsmanager:k
authUri: https://login.example.com/oauth/auth
${redirect}
${CALLERS}`,
      );
    const { lines } = check(
      `profiles:${consent('a', 'redirectUri: http://localhost:3000/consent/callback')}${consent(
        'b',
        'redirectUri: https://broker.example.com:443/consent/callback',
      )}${profile('c', `certStore: secretsmanager:k\nredirectUri: https://broker.example.com:443/consent/callback\n${CALLERS}`)}\n`,
    );
    expect(lines).toEqual([
      'consent.stateKey: not set, and a profile asks for consent; store 32 random bytes (openssl rand -base64 32) in Secrets Manager and name them in consent.stateKey',
      'profile a: redirectUri: http://localhost:3000/consent/callback is not https, so it cannot be the deployed callback; set it to https://<api host>:443/consent/callback',
      "profile c: authUri: not set; set it to the provider's consent page",
    ]);
  });

  it('with a custom domain, wants the redirect URI on it', () => {
    const yaml = `consent: { stateKey: 'secretsmanager:token-broker/prod/state' }
profiles:${profile(
      'docusign',
      `certStore: secretsmanager:k
authUri: https://login.example.com/oauth/auth
redirectUri: https://abc.execute-api.eu-west-1.amazonaws.com:443/consent/callback
${CALLERS}`,
    )}\n`;
    expect(check(yaml).lines).toEqual([]);
    expect(check(yaml, { domainName: 'tokens.example.com' }).lines).toEqual([
      "profile docusign: redirectUri: abc.execute-api.eu-west-1.amazonaws.com is not the stack's domain tokens.example.com; set it to https://tokens.example.com:443/consent/callback",
    ]);
  });

  it('wants callers, no local DynamoDB endpoint, and a profiles path inside the project', () => {
    writeFileSync(join(tmpdir(), 'tb-outside.yaml'), '');
    const yaml = `cache: { endpoint: 'http://127.0.0.1:8000' }
profiles:${profile('nobody', 'certStore: secretsmanager:k')}\n`;
    expect(check(yaml, { path: '../tb-outside.yaml' }).lines).toEqual([
      'profiles file: ../tb-outside.yaml is not inside the project, so it cannot be packaged; copy it beside serverless.yml and pass --param="profiles=<path relative to serverless.yml>"',
      "cache.endpoint: http://127.0.0.1:8000 is a local DynamoDB; remove it, the deployed functions use the stack's table",
      'profile nobody: callers: empty, so no caller may use it; list the IAM roles allowed, e.g. arn:aws:iam::<account>:role/<name>',
    ]);
  });
});

describe('rolePolicies', () => {
  const yaml = `consent: { stateKey: 'secretsmanager:ops/consent-state' }
profiles:${profile(
    'docusign',
    `certStore: secretsmanager:security-team/docusign/keystore
certPassword: secretsmanager:security-team/docusign/keystore#password
authUri: https://login.example.com/oauth/auth
redirectUri: https://tokens.example.com:443/consent/callback
clientSecret: secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/docusign-client
params: { audience_hint: secretsmanager:ops/hint }
${CALLERS}`,
  )}${profile('kms', `certStore: kms:alias/signing\ncertificate: secretsmanager:ops/kms-cert\n${CALLERS}`)}\n`;
  const config = parseConfig(yaml, '/service/token-broker.yaml');
  const policies = rolePolicies(config, {
    stage: 'prod',
    service: 'token-broker',
    cacheSealKey: 'secretsmanager:token-broker/prod/cache-key',
    secretsKmsKeys: parseKeyList(
      'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab, alias/secrets',
    ),
  });
  const statements = (fn: keyof typeof policies): Statement[] => [
    ...policies[fn][0]!.PolicyDocument.Statement,
  ];
  const secretsOf = (fn: keyof typeof policies) =>
    statements(fn)
      .filter((s) => s.Action.includes('secretsmanager:GetSecretValue'))
      .flatMap((s) => s.Resource)
      .map((r) =>
        typeof r === 'string' ? r : (r as { 'Fn::Sub': string })['Fn::Sub'].replace(/^.*:secret:/, ''),
      );
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/docusign-client';

  it('gives each function exactly the secrets its code reads, wherever they live', () => {
    expect(secretsOf('token')).toEqual([
      'security-team/docusign/keystore-??????',
      'ops/hint-??????',
      'ops/kms-cert-??????',
      'token-broker/prod/cache-key-??????',
    ]);
    expect(secretsOf('refresh')).toEqual(secretsOf('token'));
    expect(secretsOf('health')).toEqual(['security-team/docusign/keystore-??????', 'ops/kms-cert-??????']);
    expect(secretsOf('consentStart')).toEqual(['ops/consent-state-??????']);
    expect(secretsOf('consentCallback')).toEqual([
      'security-team/docusign/keystore-??????',
      'ops/hint-??????',
      arn,
      `${arn}-??????`,
      'ops/kms-cert-??????',
      'token-broker/prod/cache-key-??????',
      'ops/consent-state-??????',
    ]);
    // Health never holds a secret that token lacks.
    for (const secret of secretsOf('health')) expect(secretsOf('token')).toContain(secret);
  });

  it('grants kms:Decrypt on the secrets keys only through Secrets Manager, to the roles that read secrets', () => {
    for (const fn of ['token', 'health', 'consentStart', 'consentCallback', 'refresh'] as const) {
      const decrypt = statements(fn).filter((s) => s.Action.includes('kms:Decrypt'));
      expect(
        decrypt.map((s) => s.Sid),
        fn,
      ).toEqual(['DecryptSecretsKeys', 'DecryptSecretsAliases']);
      for (const s of decrypt) {
        expect(s.Action).toEqual(['kms:Decrypt']);
        expect(s.Condition?.['StringEquals']).toEqual({
          'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
        });
      }
      expect(decrypt[0]!.Resource).toEqual([
        'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      ]);
      expect(decrypt[1]!.Condition?.['ForAnyValue:StringEquals']).toEqual({
        'kms:ResourceAliases': ['alias/secrets'],
      });
    }
    expect(JSON.stringify(policies)).not.toMatch(/"\*"/);
  });

  it('refuses a secretsKmsKeys entry that is not a key', () => {
    expect(() => parseKeyList('alias/ok,not a key')).toThrow(
      'secretsKmsKeys: "not" is not a KMS key id, key ARN or alias',
    );
    expect(parseKeyList('')).toEqual([]);
  });
});
