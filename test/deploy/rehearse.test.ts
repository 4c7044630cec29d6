/**
 * `npm run rehearse` on a profiles file whose secrets live where a security team put them:
 * outside `token-broker/<stage>/`, named by ARN, under a customer-managed KMS key; beside a
 * KMS-held key and a consent profile. Under the roles the template gives, every profile
 * gets a token whose assertion the stand-in provider verified. Under the roles as they were
 * before the roles followed the references (the stage's folder only, no kms:Decrypt), the
 * first three cannot read their secrets. A keyless Entra-style profile, one migrating from
 * its keystore and a keyless Google one (exchange, then the service account's token) get
 * theirs with the web identity JWT the token role asks the loopback STS for (no secret
 * read), verified by the stand-in's federated trust.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRehearsalArgs, type RehearsalRow } from '../rehearsal/rehearse-plan.ts';
import { rehearse } from '../rehearsal/rehearsal.ts';
import type { IamDecision } from '../support/iam-authority.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { ROOT, type Resource } from '../support/osls-package.ts';

const PROFILES = 'test/fixtures/deploy/rehearse-profiles.yaml';
const CMK = 'arn:aws:kms:eu-west-1:123456789012:key/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b';
let dir: string;

function argv(): string[] {
  const p12 = join(KEYSTORE_FIXTURES, 'p12-keytool-rsa2048.p12');
  const secret = (name: string, file: string) => ['--secret', `${name}=${file}`];
  return [
    '--profiles',
    PROFILES,
    '--stage',
    'ci',
    '--param',
    `secretsKmsKeys=${CMK}`,
    ...secret('security-team/docusign/keystore', p12),
    ...secret('security-team/docusign/keystore-password', 'password.txt'),
    ...secret(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/jwt-keystore-Xy12Ab',
      join(KEYSTORE_FIXTURES, 'java-rsa2048.jks'),
    ),
    ...secret(
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:shared/jwt-keystore-password-Qw34Er',
      'password.txt',
    ),
    ...secret('token-broker/ci/cmk-keystore', join(KEYSTORE_FIXTURES, 'p12-keytool-ec256.p12')),
    '--secret-kms-key',
    `token-broker/ci/cmk-keystore=${CMK}`,
    ...secret('token-broker/ci/keystore-password', 'password.txt'),
    ...secret('token-broker/ci/consent-keystore', p12),
    ...secret('token-broker/ci/consent-client-secret', 'client-secret.txt'),
  ];
}

/**
 * The signing roles' secret statements as they were: the stage's folder, and no kms:Decrypt;
 * and no GetWebIdentityToken statement, as before keyless profiles.
 */
function rolesBeforeThisChange(resources: Record<string, Resource>): void {
  for (const role of ['TokenRole', 'RefreshRole', 'ConsentCallbackRole']) {
    const document = resources[role]!.Properties['Policies'][0].PolicyDocument as {
      Statement: { Sid: string }[];
    };
    document.Statement = document.Statement.filter(
      (s) => !s.Sid.startsWith('DecryptSecrets') && s.Sid !== 'GetWebIdentityToken',
    ).map((s) =>
      s.Sid === 'ReadSecrets'
        ? {
            Sid: 'ReadStageSecrets',
            Effect: 'Allow',
            Action: ['secretsmanager:GetSecretValue'],
            Resource: [
              {
                'Fn::Sub':
                  'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:token-broker/ci/*',
              },
            ],
          }
        : s,
    );
  }
}

const byProfile = (rows: readonly RehearsalRow[]) => Object.fromEntries(rows.map((r) => [r.profile, r]));

const TITLE = 'npm run rehearse (the packaged zips under IAM)';

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tb-rehearse-'));
      writeFileSync(join(dir, 'password.txt'), 'changeit');
      writeFileSync(join(dir, 'client-secret.txt'), 'consent-client-secret-not-real');
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('gives a verified assertion for every profile, wherever its secrets live', async () => {
      const lines: string[] = [];
      const stsDecisions: IamDecision[] = [];
      const { rows, ok } = await rehearse(parseRehearsalArgs(argv(), dir), {
        say: (l) => lines.push(l),
        decisions: (d) => stsDecisions.push(...d.filter((x) => x.action === 'sts:GetWebIdentityToken')),
      });
      expect(lines.join('\n')).toMatch(/profile +secrets +key +assertion +consent +refresh/);
      expect(byProfile(rows)).toEqual({
        outside: {
          profile: 'outside',
          secrets: 'ok',
          key: 'ok',
          assertion: 'ok',
          consent: '-',
          refresh: '-',
        },
        'by-arn': {
          profile: 'by-arn',
          secrets: 'ok',
          key: 'ok',
          assertion: 'ok',
          consent: '-',
          refresh: '-',
        },
        cmk: { profile: 'cmk', secrets: 'ok', key: 'ok', assertion: 'ok', consent: '-', refresh: '-' },
        kms: { profile: 'kms', secrets: 'ok', key: 'ok', assertion: 'ok', consent: '-', refresh: '-' },
        consent: {
          profile: 'consent',
          secrets: 'ok',
          key: 'ok',
          assertion: 'ok',
          consent: 'ok',
          refresh: 'ok',
        },
        keyless: {
          profile: 'keyless',
          secrets: 'none',
          key: 'web identity (api://AzureADTokenExchange, RS256)',
          assertion: 'ok',
          consent: '-',
          refresh: '-',
        },
        migrating: {
          profile: 'migrating',
          secrets: 'ok',
          key: 'web identity (api://AzureADTokenExchange, ES384)',
          assertion: 'ok',
          consent: '-',
          refresh: '-',
        },
        wif: {
          profile: 'wif',
          secrets: 'none',
          key: 'web identity (https://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/broker, RS256)',
          assertion: 'ok',
          consent: '-',
          refresh: '-',
        },
      });
      expect(ok).toBe(true);
      expect(lines.join('\n')).not.toContain('changeit');
      // The token role asked STS once per keyless profile, allowed by the template's conditions.
      expect(stsDecisions.map((d) => [d.function, d.allowed])).toEqual([
        ['token', true],
        ['token', true],
        ['token', true],
      ]);
      expect(lines.join('\n')).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
    }, 240_000);

    it('fails on the first three with the roles as they were before they followed the references, and on the keyless ones without the STS statement', async () => {
      const { rows, ok } = await rehearse(parseRehearsalArgs(argv(), dir), {
        say: () => undefined,
        template: rolesBeforeThisChange,
      });
      const row = byProfile(rows);
      for (const name of ['outside', 'by-arn', 'cmk']) {
        expect(row[name]!.assertion, name).toBe('503 secret_unavailable');
        expect(row[name]!.secrets, name).toMatch(
          /^(secretsmanager:GetSecretValue|kms:Decrypt) denied to token$/,
        );
      }
      expect(row['cmk']!.secrets).toBe('kms:Decrypt denied to token');
      for (const name of ['kms', 'consent']) expect(row[name]!.assertion, name).toBe('ok');
      // Without the statement the token role may not ask STS: no fallback on a denial either.
      for (const name of ['keyless', 'migrating', 'wif']) {
        expect(row[name]!.key, name).toBe('sts:GetWebIdentityToken denied to token');
        expect(row[name]!.assertion, name).toBe('500 key_unavailable');
      }
      expect(ok).toBe(false);
    }, 240_000);

    it('stops with one line on a profile with an env: secret, before packaging', () => {
      writeFileSync(
        join(ROOT, 'test/fixtures/deploy/.rehearse-env.yaml'),
        `profiles:
  p:
    provider: generic
    issuer: x
    tokenUri: POST https://login.example.com/oauth/token
    certStore: secretsmanager:k
    certPassword: env:KEYSTORE_PASSWORD
    callers: ['arn:aws:iam::123456789012:role/app']
`,
      );
      try {
        const run = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            join(ROOT, 'test/rehearsal/rehearse.ts'),
            '--profiles',
            'test/fixtures/deploy/.rehearse-env.yaml',
          ],
          { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
        );
        expect(run.status).toBe(2);
        expect(run.stdout).toBe('');
        expect(run.stderr).toBe(
          'rehearse: profile p: certPassword: env:KEYSTORE_PASSWORD is not set in the deployed functions; put the value in Secrets Manager and write secretsmanager:<name>\n',
        );
      } finally {
        rmSync(join(ROOT, 'test/fixtures/deploy/.rehearse-env.yaml'), { force: true });
      }
    });
  });
