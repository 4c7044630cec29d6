/**
 * The packaged template (`osls package`) of keyless profiles: `sts:GetWebIdentityToken`
 * for the token and refresh roles only, held to the profiles' audiences, longest lifetime
 * and algorithms; no secret read for `aws:web-identity`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { checkDeployment } from '../../lib/deploy/deployable.ts';
import { rolePolicies } from '../../lib/deploy/policies.ts';
import { packageService, type PackagedService, type Resource } from '../support/osls-package.ts';

const KEYLESS_PROFILES = 'test/fixtures/deploy/keyless-profiles.yaml';
const WIP = 'projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/broker';

const EXPECTED = {
  Sid: 'GetWebIdentityToken',
  Effect: 'Allow',
  Action: ['sts:GetWebIdentityToken'],
  Resource: ['*'],
  Condition: {
    Null: { 'sts:IdentityTokenAudience': 'false' },
    'ForAllValues:StringEquals': {
      'sts:IdentityTokenAudience': [
        'api://AzureADTokenExchange',
        'https://auth.partner.example',
        `https://iam.googleapis.com/${WIP}`,
      ],
    },
    NumericLessThanEquals: { 'sts:DurationSeconds': '900' },
    StringEquals: { 'sts:SigningAlgorithm': ['ES384', 'RS256'] },
  },
};
/** The partner profile tags its JWT: STS asks for the tagging permission too, for those keys only. */
const EXPECTED_TAGS = {
  Sid: 'TagWebIdentityToken',
  Effect: 'Allow',
  Action: ['sts:TagGetWebIdentityToken'],
  Resource: ['*'],
  Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['cost-centre', 'team'] } },
};

describe('IAM for keyless profiles', () => {
  it('check --deployed takes certStore: aws:web-identity as no secret to package or read', () => {
    const text = readFileSync(KEYLESS_PROFILES, 'utf8');
    const result = checkDeployment(parseConfig(text, KEYLESS_PROFILES), {
      profilesPath: KEYLESS_PROFILES,
      serviceDir: process.cwd(),
      cacheSealKey: undefined,
      domainName: undefined,
    });
    expect(result.problems).toEqual([]);
    expect(result.files).toEqual([]);
  });

  it('adds nothing for profiles without web identity', () => {
    const config = parseConfig(
      'profiles:\n  k:\n    issuer: a\n    tokenUri: https://login.example.com/token\n    certStore: secretsmanager:k\n',
      'p.yaml',
    );
    const policies = rolePolicies(config, { stage: 'ci', service: 'token-broker' });
    expect(JSON.stringify(policies)).not.toContain('sts:');
  });

  it('asks for sts:TagGetWebIdentityToken only when a profile tags its JWT', () => {
    const profile = (tags: string) =>
      `profiles:\n  k:\n    issuer: a\n    tokenUri: https://login.example.com/token\n    certStore: aws:web-identity\n    webIdentity: { audience: https://login.example.com${tags} }\n`;
    const actions = (text: string) =>
      rolePolicies(parseConfig(text, 'p.yaml'), { stage: 'ci', service: 'token-broker' })
        .token.flatMap((policy) => policy.PolicyDocument.Statement)
        .flatMap((statement) => statement.Action)
        .filter((action) => action.startsWith('sts:'));
    expect(actions(profile(''))).toEqual(['sts:GetWebIdentityToken']);
    expect(actions(profile(', tags: { team: billing }'))).toEqual([
      'sts:GetWebIdentityToken',
      'sts:TagGetWebIdentityToken',
    ]);
  });
});

describe('keyless profiles in the packaged template (osls package)', () => {
  let packaged: PackagedService;
  let resources: Record<string, Resource>;
  beforeAll(async () => {
    packaged = await packageService(KEYLESS_PROFILES);
    expect(packaged.code, packaged.output).toBe(0);
    resources = packaged.resources;
  }, 300_000);
  afterAll(() => packaged?.remove());

  const statementsOf = (role: string) =>
    (
      resources[role]!.Properties['Policies'] as {
        PolicyDocument: { Statement: Record<string, unknown>[] };
      }[]
    ).flatMap((p) => p.PolicyDocument.Statement);

  it('gives the token and refresh roles one GetWebIdentityToken statement with the profiles audiences, longest lifetime and algorithms, and one for their tag keys', () => {
    for (const role of ['TokenRole', 'RefreshRole']) {
      const sts = statementsOf(role).filter((s) => JSON.stringify(s['Action']).includes('sts:'));
      expect(sts, role).toEqual([EXPECTED, EXPECTED_TAGS]);
    }
  });

  it('outputs the token and refresh roles, the subjects a provider trusts', () => {
    const template = JSON.parse(
      readFileSync(join(packaged.out, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as { Outputs: Record<string, { Value: unknown }> };
    const outputs = template.Outputs;
    expect(outputs['TokenRoleArn']!.Value).toEqual({ 'Fn::GetAtt': ['TokenRole', 'Arn'] });
    expect(outputs['RefreshRoleArn']!.Value).toEqual({ 'Fn::GetAtt': ['RefreshRole', 'Arn'] });
  });

  it('gives no other role any sts action, and reads no secret for aws:web-identity', () => {
    for (const role of ['HealthRole', 'ConsentStartRole', 'ConsentCallbackRole'])
      expect(JSON.stringify(statementsOf(role)), role).not.toContain('sts:');
    // Health reads nothing of these profiles; the others only the stack's own seal key.
    expect(JSON.stringify(statementsOf('HealthRole'))).not.toContain('secretsmanager:');
    for (const role of ['TokenRole', 'RefreshRole']) {
      const reads = statementsOf(role).filter((s) => s['Sid'] === 'ReadSecrets');
      expect(JSON.stringify(reads), role).not.toContain('web-identity');
      expect(JSON.stringify(reads), role).toContain('cache-key');
    }
  });
});
