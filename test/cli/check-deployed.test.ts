/**
 * `token-broker check --deployed`: the DataDirect import, as a laptop has it, is named
 * problem by problem; fixed as docs/migrate-from-datadirect.md says, it passes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { DATADIRECT_SEED } from '../config/helpers.ts';
import { captureIo } from '../support/cli-io.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-check-deployed-'));
  await writeFile(join(dir, 'serverless.yml'), 'service: token-broker\n');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function run(argv: string[]) {
  const c = captureIo({ env: {}, cwd: dir });
  const code = await main(argv, c.io);
  return { code, out: c.stdout(), err: c.stderr() };
}

describe('token-broker check --deployed', () => {
  it('names each problem of the imported DataDirect profile in one line, exit 1', async () => {
    const imported = await run(['import', 'datadirect', DATADIRECT_SEED]);
    expect(imported.code).toBe(0);
    await writeFile(join(dir, 'token-broker.yaml'), imported.out);
    const { code, out } = await run(['check', '--deployed', '--config', 'token-broker.yaml']);
    expect(code).toBe(1);
    const errors = out.split('\n').filter((line) => line.startsWith('  error: '));
    expect(errors.map((line) => line.slice('  error: '.length).split(':')[0])).toEqual([
      'profile docusign',
      'profile docusign',
      'profile docusign',
      'profile docusign',
      'consent.stateKey',
      'profile docusign',
    ]);
    expect(out).toContain(
      '  error: profile docusign: certStore: file:jwtcert.jks does not exist (looked for jwtcert.jks);',
    );
    expect(out).toContain(
      '  error: profile docusign: certPassword: env:TOKEN_BROKER_DOCUSIGN_CERT_PASSWORD is not set in the deployed functions; put the value in Secrets Manager and write secretsmanager:<name>\n',
    );
    expect(out).toContain(
      '  error: profile docusign: headers.response_type: env:TOKEN_BROKER_DOCUSIGN_SECURITY_TOKEN',
    );
    expect(out).toContain('  error: profile docusign: callers: empty');
    expect(out).toContain(
      '  error: profile docusign: redirectUri: not set; set it to https://<api host>:443/consent/callback',
    );
    expect(out).toContain('deployed: FAILED (6 problems)\n');
  });

  it('passes the profile once its secrets are in Secrets Manager and consent is set up', async () => {
    await writeFile(
      join(dir, 'fixed.yaml'),
      `consent:
  stateKey: secretsmanager:token-broker/prod/consent-state-key
profiles:
  docusign:
    provider: docusign-demo
    issuer: 1a2b3c4d5e_6f7g8h9g
    subject: jsmith@example.com
    tokenUri: https://account-d.docusign.com/oauth/token
    scope: signature impersonation
    certStore: secretsmanager:token-broker/prod/docusign/keystore
    certPassword: secretsmanager:token-broker/prod/docusign/keystore-password
    headers: { response_type: code }
    redirectUri: https://tokens.example.com:443/consent/callback
    callers: ['arn:aws:iam::123456789012:role/billing-*']
`,
    );
    const ok = await run(['check', '--deployed', '--config', 'fixed.yaml']);
    expect(ok.out).toBe(
      `config ${join(dir, 'fixed.yaml')}: 1 profile\ndeployed: ok (--param="profiles=fixed.yaml")\n`,
    );
    expect(ok.code).toBe(0);
    const domain = await run([
      'check',
      '--deployed',
      '--config',
      'fixed.yaml',
      '--domain-name',
      'other.example.com',
    ]);
    expect(domain.code).toBe(1);
    expect(domain.out).toContain(
      "redirectUri: tokens.example.com is not the stack's domain other.example.com",
    );
  });

  it('names the real rule ARN in the topic-policy statement with --stage and --event-bus', async () => {
    await writeFile(
      join(dir, 'notify.yaml'),
      `profiles:
  billing:
    provider: generic
    issuer: billing-client
    subject: jsmith@example.com
    tokenUri: POST https://login.example.com/oauth/token
    certStore: secretsmanager:k
    callers: ['arn:aws:iam::123456789012:role/billing-*']
    notify: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:billing-alerts' }
`,
    );
    const argv = ['check', '--deployed', '--config', 'notify.yaml'];
    const bare = await run(argv);
    expect(bare.code).toBe(0);
    expect(bare.out).toContain('rule/token-broker-<stage>-billing"');
    expect(bare.out).toContain('(the stage you deploy for <stage>; ');

    const { code, out } = await run([...argv, '--stage', 'prod', '--event-bus', 'team-events']);
    expect(code).toBe(0);
    expect(out).not.toContain('<stage>');
    expect(out).toContain(
      "  notify: profile billing sends to arn:aws:sns:eu-west-1:123456789012:billing-alerts; its owner adds to the topic's policy (the stack's account if not the topic's):\n",
    );
    const statement = JSON.parse(out.trimEnd().split('\n').at(-1)!) as {
      Condition: { ArnEquals: Record<string, string> };
    };
    expect(statement.Condition.ArnEquals['aws:SourceArn']).toBe(
      'arn:aws:events:eu-west-1:123456789012:rule/team-events/token-broker-prod-billing',
    );

    const busArn = 'arn:aws:events:us-east-1:123456789012:event-bus/team-events';
    const elsewhere = await run([...argv, '--stage', 'prod', '--event-bus', busArn]);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.out).toContain(
      'error: profile billing: notify.topicArn: the topic is in eu-west-1, the bus team-events in us-east-1;',
    );
  });

  it('refuses a stage osls would refuse, and --stage or --event-bus without --deployed', async () => {
    const bad = await run(['check', '--deployed', '--stage', 'prod/eu']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`--stage takes letters, digits and '-' (as osls does), not "prod/eu"`);
    const alone = await run(['check', '--stage', 'prod']);
    expect(alone.code).toBe(2);
    expect(alone.err).toContain('--stage and --event-bus go with check --deployed');
  });

  it('refuses --live or a profile name beside --deployed', async () => {
    const { code, err } = await run(['check', 'docusign', '--deployed']);
    expect(code).toBe(2);
    expect(err).toContain('check --deployed checks the whole file, without --live or a profile name');
  });
});
