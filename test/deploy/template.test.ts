import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiEvent, lambdaContext, SCHEDULED_EVENT } from '../functions/events.ts';
import { ATTRIBUTE_NAMES } from '../../lib/cache/dynamodb-item.ts';
import { cacheTableAttributes, DUE_INDEX, dueIndexDefinition } from '../../lib/cache/due.ts';
import { ATTEMPT_TIMEOUT_MS, DEADLINE_MS } from '../../lib/exchange/retry.ts';
import { AWS_ATTEMPT_TIMEOUT_MS } from '../../lib/aws/sdk.ts';
import { CODE_EXCHANGE_TIMEOUT_MS } from '../../lib/consent/code-exchange.ts';
import { FINISH_MARGIN_MS, START_MARGIN_MS } from '../../lib/refresh/refresh.ts';
import { TIMEOUT_EARLY_MS } from '../../lib/http/stack.ts';
import {
  PACKAGED_PROFILES,
  packageService,
  ROOT,
  type FunctionName,
  type PackagedService,
  type Resource,
} from '../support/osls-package.ts';

/** API Gateway HTTP APIs stop waiting for an integration after 30 s. */
const API_GATEWAY_TIMEOUT_S = 30;
const PROFILES = PACKAGED_PROFILES;

let packaged: PackagedService;
let resources: Record<string, Resource>;

beforeAll(async () => {
  packaged = await packageService();
  expect(packaged.code, packaged.output).toBe(0);
  resources = packaged.resources;
}, 120_000);
afterAll(() => packaged?.remove());

/** What only the refresh role has: Query on the due index, and Invoke of itself for its shards. */
const REFRESH_ONLY = [
  {
    Sid: 'QueryDueIndex',
    Effect: 'Allow',
    Action: ['dynamodb:Query'],
    Resource: [{ 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }, 'index', 'due']] }],
  },
  {
    Sid: 'InvokeRefreshShards',
    Effect: 'Allow',
    Action: ['lambda:InvokeFunction'],
    Resource: [
      {
        'Fn::Sub':
          'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:token-broker-ci-refresh',
      },
    ],
  },
];

const ofType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, r]) => r.Type === type);

describe('packaged CloudFormation template (osls package)', () => {
  it('authorizes every API route with AWS_IAM, except the browser-facing consent routes', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route');
    expect(routes.map(([, r]) => r.Properties['RouteKey'])).toEqual(
      expect.arrayContaining(['POST /token', 'GET /health']),
    );
    const consent = ['GET /consent/{profile}', 'GET /consent/callback'];
    for (const [, route] of routes) {
      const key = String(route.Properties['RouteKey']);
      // CloudFormation's default AuthorizationType is NONE.
      expect(route.Properties['AuthorizationType'] ?? 'NONE', key).toBe(
        consent.includes(key) ? 'NONE' : 'AWS_IAM',
      );
    }
    expect(routes.map(([, r]) => r.Properties['RouteKey'])).toEqual(expect.arrayContaining(consent));
  });

  it('throttles the unauthenticated consent routes on the stage', () => {
    const [[, stage]] = ofType('AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    for (const key of ['GET /consent/{profile}', 'GET /consent/callback']) {
      const settings = stage.Properties['RouteSettings'][key];
      expect(settings['ThrottlingRateLimit'], key).toBeGreaterThan(0);
      expect(settings['ThrottlingBurstLimit'], key).toBeGreaterThan(0);
    }
  });

  it('grants Secrets Manager and DynamoDB actions only on scoped resources, never "*"', () => {
    const statements = [...ofType('AWS::IAM::Role'), ...ofType('AWS::IAM::Policy')].flatMap(([, r]) => [
      ...(r.Properties['Policies'] ?? []).flatMap((p: any) => p.PolicyDocument.Statement),
      ...(r.Properties['PolicyDocument']?.Statement ?? []),
    ]);
    const scoped = statements.filter((s: any) =>
      [s.Action].flat().some((a: string) => /^(secretsmanager|dynamodb):/i.test(a) || a === '*'),
    );
    expect(scoped.length).toBeGreaterThan(0);
    for (const statement of scoped) {
      expect([statement.Action].flat()).not.toContain('*');
      for (const resource of [statement.Resource].flat()) expect(resource).not.toBe('*');
    }
    // Secrets by name (with Secrets Manager's suffix), never a prefix wildcard.
    const secrets = scoped.filter((s: any) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(secrets.length).toBeGreaterThan(0);
    for (const resource of secrets.flatMap((s: any) => [s.Resource].flat()))
      expect(JSON.stringify(resource)).toMatch(/:secret:[^*?]+-\?{6}"/);
    const dynamo = scoped.filter((s: any) => [s.Action].flat().some((a: string) => /^dynamodb:/i.test(a)));
    expect([...new Set(dynamo.flatMap((s: any) => [s.Action].flat()))].sort()).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
    ]);
    for (const statement of dynamo) {
      const actions = [statement.Action].flat();
      // Query only on the due index; the table itself is never read in bulk.
      expect([statement.Resource].flat(), actions.join()).toEqual(
        actions.includes('dynamodb:Query')
          ? [{ 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }, 'index', DUE_INDEX]] }]
          : [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }],
      );
      if (actions.includes('dynamodb:Query')) expect(actions).toEqual(['dynamodb:Query']);
      // Items are deleted only when they are the events' state, never a cached token.
      if (actions.includes('dynamodb:DeleteItem'))
        expect(statement.Condition).toEqual({
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['event#*'] },
        });
    }
    expect(JSON.stringify(statements)).not.toMatch(/dynamodb:(Scan|\*)/i);
  });

  it('lets the refresh function invoke only itself, asynchronously, without retries', () => {
    const statements = [...ofType('AWS::IAM::Role'), ...ofType('AWS::IAM::Policy')].flatMap(([, r]) => [
      ...(r.Properties['Policies'] ?? []).flatMap((p: any) => p.PolicyDocument.Statement),
      ...(r.Properties['PolicyDocument']?.Statement ?? []),
    ]);
    const invoke = statements.filter((s: any) => [s.Action].flat().some((a: string) => /^lambda:/i.test(a)));
    expect(invoke.map((s: any) => s.Action)).toEqual([['lambda:InvokeFunction']]);
    expect(invoke[0].Resource).toEqual([
      {
        'Fn::Sub':
          'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:token-broker-ci-refresh',
      },
    ]);
    const refresh = resources['RefreshLambdaFunction']!.Properties;
    expect(refresh['FunctionName']).toBe('token-broker-ci-refresh');
    expect(refresh['Environment'].Variables['TOKEN_BROKER_REFRESH_SHARDS']).toBe('1');
    const [[, retries]] = ofType('AWS::Lambda::EventInvokeConfig') as [[string, Resource]];
    expect(retries.Properties['MaximumRetryAttempts']).toBe(0);
    expect(JSON.stringify(retries.Properties['FunctionName'])).toContain('RefreshLambdaFunction');
  });

  it('indexes due tokens in a sparse index keyed by slot and due time, leases not projected', () => {
    const table = resources['CacheTable']!.Properties;
    expect(table['GlobalSecondaryIndexes']).toEqual([dueIndexDefinition()]);
    expect(table['AttributeDefinitions']).toEqual(cacheTableAttributes());
    const projected: string[] = table['GlobalSecondaryIndexes'][0].Projection.NonKeyAttributes;
    expect(projected).not.toContain(ATTRIBUTE_NAMES['#lease']);
    expect(projected).not.toContain('leaseUntil');
  });

  it('keeps the shared cache in an on-demand table keyed by pk, with TTL on and point-in-time recovery off', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables.map(([name]) => name)).toEqual(['CacheTable']);
    const table = resources['CacheTable']!.Properties;
    expect(table['BillingMode']).toBe('PAY_PER_REQUEST');
    expect(table['KeySchema']).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table['TimeToLiveSpecification']).toEqual({
      AttributeName: ATTRIBUTE_NAMES['#ttl'],
      Enabled: true,
    });
    expect(table['PointInTimeRecoverySpecification']).toEqual({ PointInTimeRecoveryEnabled: false });
    // Health and consentStart never touch the table (see "one IAM role per function").
    for (const name of ['TokenLambdaFunction', 'RefreshLambdaFunction', 'ConsentCallbackLambdaFunction']) {
      const fn = resources[name]!;
      expect(fn.Properties['Environment'].Variables['TOKEN_BROKER_CACHE_TABLE'], name).toEqual({
        Ref: 'CacheTable',
      });
      expect(fn.Properties['Environment'].Variables['TOKEN_BROKER_CACHE_SEAL_KEY'], name).toBe(
        'secretsmanager:token-broker/ci/cache-key',
      );
    }
  });

  it('runs the refresh function every minute with a timeout below the rate', () => {
    const rules = ofType('AWS::Events::Rule');
    const rule = rules.find(([, r]) =>
      r.Properties['Targets'].some((t: any) => JSON.stringify(t.Arn).includes('RefreshLambdaFunction')),
    );
    expect(rule?.[1].Properties['ScheduleExpression']).toBe('rate(1 minute)');
    expect(rule?.[1].Properties['State']).toBe('ENABLED');
    const timeoutMs = resources['RefreshLambdaFunction']!.Properties['Timeout'] * 1000;
    expect(timeoutMs).toBeLessThan(60_000);
    // A refresh started at the last moment still has a whole exchange deadline before the run returns.
    expect(START_MARGIN_MS - FINISH_MARGIN_MS).toBeGreaterThanOrEqual(DEADLINE_MS);
    expect(timeoutMs).toBeGreaterThan(START_MARGIN_MS);
  });

  it('runs Node.js 22 or later on arm64 with timeouts that fit the exchange deadline and API Gateway', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions.length).toBeGreaterThanOrEqual(2);
    for (const [, fn] of functions) {
      expect(fn.Properties['Runtime']).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
      expect(fn.Properties['Architectures']).toEqual(['arm64']);
      expect(fn.Properties['Environment'].Variables['TOKEN_BROKER_CONFIG']).toBe(PROFILES);
    }
    const api = new Set(
      ofType('AWS::ApiGatewayV2::Integration').map(([, i]) => JSON.stringify(i.Properties['IntegrationUri'])),
    );
    for (const [name, fn] of functions) {
      if (![...api].some((uri) => uri.includes(name))) continue;
      expect(fn.Properties['Timeout'], name).toBeLessThan(API_GATEWAY_TIMEOUT_S);
    }
    const token = resources['TokenLambdaFunction']!;
    expect(token.Properties['Timeout'] * 1000).toBeGreaterThanOrEqual(DEADLINE_MS + TIMEOUT_EARLY_MS);
    expect(ofType('AWS::Logs::LogGroup').every(([, g]) => g.Properties['RetentionInDays'] > 0)).toBe(true);
  });

  it('gives every function a timeout that covers the longest work its code bounds', () => {
    const timeoutMs = (fn: string) => resources[`${fn}LambdaFunction`]!.Properties['Timeout'] * 1000;
    // Every HTTP route answers 503 TIMEOUT_EARLY_MS before its function's timeout, and API
    // Gateway stops waiting at 30 s; what each route may need before that:
    // token: a whole token exchange (retries included).
    expect(timeoutMs('Token') - TIMEOUT_EARLY_MS).toBeGreaterThanOrEqual(DEADLINE_MS);
    // consentCallback: the code exchange at its longest, then the proof grant (cut to the
    // deadline) still gets one whole attempt.
    expect(timeoutMs('ConsentCallback') - TIMEOUT_EARLY_MS - CODE_EXCHANGE_TIMEOUT_MS).toBeGreaterThanOrEqual(
      ATTEMPT_TIMEOUT_MS,
    );
    // consentStart (the state key) and health (key material for ?deep=1): one whole
    // Secrets Manager attempt at least.
    for (const fn of ['ConsentStart', 'Health'])
      expect(timeoutMs(fn) - TIMEOUT_EARLY_MS, fn).toBeGreaterThanOrEqual(AWS_ATTEMPT_TIMEOUT_MS);
    for (const fn of ['Token', 'ConsentCallback', 'ConsentStart', 'Health'])
      expect(timeoutMs(fn), fn).toBeLessThan(API_GATEWAY_TIMEOUT_S * 1000);
    // refresh: see 'runs the refresh function every minute with a timeout below the rate'.
  });

  it('packages the profiles file with each HTTP function', () => {
    for (const artifact of [
      'token.zip',
      'health.zip',
      'consentStart.zip',
      'consentCallback.zip',
      'refresh.zip',
    ]) {
      // Zip entry names are stored uncompressed in the central directory.
      expect(readFileSync(join(packaged.out, artifact)).includes(Buffer.from(PROFILES)), artifact).toBe(true);
    }
  });

  it('bundles handlers that load the packaged profiles and answer as Lambda would', async () => {
    // Each function runs from its own unpacked artifact, as Lambda does, so a chunk left out
    // of a zip (code splitting) fails here.
    process.env['TOKEN_BROKER_CONFIG'] = PROFILES;
    const load = async (name: FunctionName, file: string = name) => {
      const task = packaged.unpack(name);
      process.env['LAMBDA_TASK_ROOT'] = task;
      return (await import(pathToFileURL(join(task, 'functions', `${file}.mjs`)).href)) as {
        handler: (event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>;
      };
    };
    const caller = 'arn:aws:sts::123456789012:assumed-role/app/session';
    const health = await (
      await load('health')
    ).handler(apiEvent({ routeKey: 'GET /health', userArn: caller }), lambdaContext());
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok', profiles: expect.arrayContaining(['demo']) });
    const token = await (
      await load('token')
    ).handler(apiEvent({ body: '{"profile":"demo"}', userArn: caller }), lambdaContext());
    expect(token.statusCode).toBe(403);
    expect(JSON.parse(token.body)).toMatchObject({
      error: 'forbidden',
      message:
        'caller "arn:aws:iam::123456789012:role/app" may not use profile "demo"; add it to the profile\'s callers',
    });
    const refresh = (await load('refresh')) as unknown as {
      handler: (event: unknown, context: unknown) => Promise<unknown>;
    };
    // The packaged profiles name no refresh subjects and use the memory store here.
    expect(await refresh.handler(SCHEDULED_EVENT, lambdaContext())).toEqual({
      refreshed: 0,
      skipped: 0,
      failed: {},
      deferred: 0,
    });
  });
});

const logs = (fn: string) => ({
  Sid: 'WriteOwnLogs',
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: [
    {
      'Fn::Sub': `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/token-broker-ci-${fn}:*`,
    },
  ],
});
/** `secretsmanager:GetSecretValue` on exactly these secrets of the stack's account and region. */
const readSecrets = (...names: string[]) => ({
  Sid: 'ReadSecrets',
  Effect: 'Allow',
  Action: ['secretsmanager:GetSecretValue'],
  Resource: names.map((name) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}-??????`,
  })),
});
const table = (...actions: string[]) => ({
  Sid: 'UseCacheTable',
  Effect: 'Allow',
  Action: actions.map((a) => `dynamodb:${a}`),
  Resource: [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }],
});
/** `DeleteItem` of the events' state items (`event#…`) only, and `events:PutEvents` on the default bus. */
const clearEventState = {
  Sid: 'ClearEventState',
  Effect: 'Allow',
  Action: ['dynamodb:DeleteItem'],
  Resource: [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }],
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['event#*'] } },
};
const putEvents = {
  Sid: 'PutProfileEvents',
  Effect: 'Allow',
  Action: ['events:PutEvents'],
  Resource: [
    { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' },
  ],
};
const statementsOf = (all: Record<string, Resource>, role: string) => {
  const policies = all[role]!.Properties['Policies'] as { PolicyDocument: { Statement: unknown[] } }[];
  expect(policies).toHaveLength(1);
  return policies[0]!.PolicyDocument.Statement;
};
const ROLES = {
  token: 'TokenRole',
  health: 'HealthRole',
  consentStart: 'ConsentStartRole',
  consentCallback: 'ConsentCallbackRole',
  refresh: 'RefreshRole',
} as const;

describe('one IAM role per function', () => {
  it('gives each function its own role and no shared provider role', () => {
    for (const [fn, role] of Object.entries(ROLES)) {
      const id = `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
      expect(resources[id]!.Properties['Role'], fn).toEqual({ 'Fn::GetAtt': [role, 'Arn'] });
      expect(resources[role]!.Properties['AssumeRolePolicyDocument'].Statement).toEqual([
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ]);
    }
    expect(resources['IamRoleLambdaExecution']).toBeUndefined();
    expect(
      ofType('AWS::IAM::Role')
        .map(([id]) => id)
        .sort(),
    ).toEqual(Object.values(ROLES).sort());
  });

  it('grants each role exactly what its code calls (profiles with file: keys)', () => {
    const seal = 'token-broker/ci/cache-key';
    const state = 'token-broker/ci/consent-state-key';
    expect(statementsOf(resources, 'TokenRole')).toEqual([
      logs('token'),
      readSecrets(seal),
      table('GetItem', 'PutItem', 'UpdateItem'),
      clearEventState,
      putEvents,
    ]);
    expect(statementsOf(resources, 'HealthRole')).toEqual([logs('health')]);
    expect(statementsOf(resources, 'ConsentStartRole')).toEqual([logs('consentStart'), readSecrets(state)]);
    expect(statementsOf(resources, 'ConsentCallbackRole')).toEqual([
      logs('consentCallback'),
      readSecrets('token-broker/ci/consent-client-secret', seal, state),
      table('GetItem', 'PutItem', 'UpdateItem'),
      clearEventState,
      putEvents,
    ]);
    expect(statementsOf(resources, 'RefreshRole')).toEqual([
      logs('refresh'),
      readSecrets(seal),
      table('GetItem', 'PutItem', 'UpdateItem'),
      ...REFRESH_ONLY,
      clearEventState,
      putEvents,
    ]);
  });

  it('packages the files that relative file: references name, beside the profiles file', () => {
    for (const name of ['token', 'health', 'refresh'] as const) {
      const root = packaged.unpack(name);
      for (const file of ['examples/local/demo-keystore.jks', 'examples/local/demo-keystore.password'])
        expect(
          readFileSync(join(root, file)).equals(readFileSync(join(ROOT, file))),
          `${name}: ${file}`,
        ).toBe(true);
    }
  });

  it('gives the cache table and seal key only to the functions that use them', () => {
    for (const [fn, uses] of [
      ['Token', true],
      ['Refresh', true],
      ['ConsentCallback', true],
      ['Health', false],
      ['ConsentStart', false],
    ] as const) {
      const variables = resources[`${fn}LambdaFunction`]!.Properties['Environment'].Variables;
      expect('TOKEN_BROKER_CACHE_TABLE' in variables, fn).toBe(uses);
      expect('TOKEN_BROKER_CACHE_SEAL_KEY' in variables, fn).toBe(uses);
    }
  });
});

describe('roles for KMS profiles and Secrets Manager references (osls package)', () => {
  let kms: PackagedService;
  beforeAll(async () => {
    kms = await packageService('test/fixtures/deploy/kms-profiles.yaml');
    expect(kms.code, kms.output).toBe(0);
  }, 120_000);
  afterAll(() => kms?.remove());

  const keyArn = 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key';
  const kmsStatements = (sid: string, actions: string[]) => [
    {
      Sid: `${sid}Keys`,
      Effect: 'Allow',
      Action: actions,
      Resource: [
        'arn:aws:kms:eu-west-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321',
        { 'Fn::Sub': `${keyArn}/1234abcd-12ab-34cd-56ef-1234567890ab` },
      ],
    },
    {
      Sid: `${sid}Aliases`,
      Effect: 'Allow',
      Action: actions,
      Resource: [{ 'Fn::Sub': `${keyArn}/*` }],
      Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/token-broker-signing'] } },
    },
  ];

  it('grants kms:Sign and kms:GetPublicKey on the named keys to the signing functions, never "*"', () => {
    const sign = kmsStatements('SignWithProfileKms', ['kms:Sign', 'kms:GetPublicKey']);
    const material = ['token-broker/ci/by-id-cert', 'token-broker/ci/keystore'];
    const seal = 'token-broker/ci/cache-key';
    expect(statementsOf(kms.resources, 'TokenRole')).toEqual([
      logs('token'),
      readSecrets(...material, seal),
      ...sign,
      table('GetItem', 'PutItem', 'UpdateItem'),
      clearEventState,
      putEvents,
    ]);
    expect(statementsOf(kms.resources, 'RefreshRole')).toEqual([
      logs('refresh'),
      readSecrets(...material, seal),
      ...sign,
      table('GetItem', 'PutItem', 'UpdateItem'),
      ...REFRESH_ONLY,
      clearEventState,
      putEvents,
    ]);
    expect(statementsOf(kms.resources, 'ConsentCallbackRole')).toEqual([
      logs('consentCallback'),
      readSecrets(...material, 'token-broker/ci/client-secret', seal, 'token-broker/ci/consent-state-key'),
      ...sign,
      table('GetItem', 'PutItem', 'UpdateItem'),
      clearEventState,
      putEvents,
    ]);
  });

  it('gives consentStart the consent state key only, and health the key material and kms:DescribeKey', () => {
    expect(statementsOf(kms.resources, 'ConsentStartRole')).toEqual([
      logs('consentStart'),
      readSecrets('token-broker/ci/consent-state-key'),
    ]);
    expect(statementsOf(kms.resources, 'HealthRole')).toEqual([
      logs('health'),
      readSecrets('token-broker/ci/by-id-cert', 'token-broker/ci/keystore'),
      ...kmsStatements('DescribeProfileKms', ['kms:DescribeKey']),
    ]);
  });

  it('has no "*" resource on any secretsmanager, dynamodb or kms statement', () => {
    const statements = Object.values(ROLES).flatMap((role) => statementsOf(kms.resources, role)) as {
      Action: string[];
      Resource: unknown[];
    }[];
    const scoped = statements.filter((s) => s.Action.some((a) => /^(secretsmanager|dynamodb|kms):/.test(a)));
    expect(scoped.length).toBeGreaterThan(5);
    for (const statement of scoped) expect(statement.Resource).not.toContain('*');
  });
});

describe('osls package refuses a profiles file that cannot work', () => {
  it.each([
    [
      'missing',
      'test/fixtures/deploy/none.yaml',
      'no profiles file at test/fixtures/deploy/none.yaml (beside serverless.yml); write it, or pass --param="profiles=path/to/profiles.yaml"',
    ],
    ['invalid', 'test/fixtures/deploy/invalid-profiles.yaml', 'ERR_CONFIG:'],
    [
      'made for the local server',
      'examples/local/token-broker.yaml',
      'consent.stateKey: not set, and a profile asks for consent',
    ],
  ])(
    'fails with the problem said once when the profiles file is %s',
    async (_, file, expected) => {
      const failed = await packageService(file);
      try {
        expect(failed.code).not.toBe(0);
        expect(failed.output).toContain(`token-broker profiles file "${file}" cannot be deployed:`);
        // Once, not once per role that resolves from the file.
        expect(failed.output.split(expected).length - 1).toBe(1);
        expect(failed.output).not.toContain('--config');
        expect(failed.output).not.toMatch(/\n\s+at .*profile-facts/);
      } finally {
        failed.remove();
      }
    },
    120_000,
  );
});

describe('the consent redirect URI: stack output, and the custom domain (osls package)', () => {
  const template = (out: string) =>
    JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as {
      Conditions: Record<string, unknown>;
      Outputs: Record<string, { Value: unknown; Condition?: string }>;
      Resources: Record<string, Resource & { Condition?: string }>;
    };

  it('without a domain: ConsentCallbackUrl is the API URL, and no domain is created', () => {
    const t = template(packaged.out);
    expect(t.Conditions['HasCustomDomain']).toEqual({
      'Fn::And': [{ 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] }, { 'Fn::Not': [{ 'Fn::Equals': ['', ''] }] }],
    });
    expect(t.Outputs['ConsentCallbackUrl']!.Value).toEqual({
      'Fn::If': [
        'HasCustomDomain',
        'https://:443/consent/callback',
        { 'Fn::Sub': 'https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}:443/consent/callback' },
      ],
    });
    for (const id of ['ApiDomainName', 'ApiDomainMapping'])
      expect(t.Resources[id]!.Condition).toBe('HasCustomDomain');
  });

  it('with domainName and certificateArn: the domain, its mapping to the API, and the callback on it', async () => {
    const certificateArn =
      'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666';
    // No consent profile here, so no redirect URI has to be on the domain.
    const withDomain = await packageService('test/fixtures/deploy/kms-profiles.yaml', 'ci', {
      domainName: 'tokens.example.com',
      certificateArn,
    });
    try {
      expect(withDomain.code, withDomain.output).toBe(0);
      const t = template(withDomain.out);
      expect(t.Conditions['HasCustomDomain']).toEqual({
        'Fn::And': [
          { 'Fn::Not': [{ 'Fn::Equals': ['tokens.example.com', ''] }] },
          { 'Fn::Not': [{ 'Fn::Equals': [certificateArn, ''] }] },
        ],
      });
      expect(t.Resources['ApiDomainName']!.Properties).toEqual({
        DomainName: 'tokens.example.com',
        DomainNameConfigurations: [
          { CertificateArn: certificateArn, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
        ],
      });
      expect(t.Resources['ApiDomainMapping']!.Properties).toEqual({
        DomainName: 'tokens.example.com',
        ApiId: { Ref: 'HttpApi' },
        Stage: '$default',
      });
      expect((t.Outputs['ConsentCallbackUrl']!.Value as { 'Fn::If': unknown[] })['Fn::If'][1]).toBe(
        'https://tokens.example.com:443/consent/callback',
      );
      expect(t.Outputs['CustomDomainTarget']).toMatchObject({
        Condition: 'HasCustomDomain',
        Value: { 'Fn::GetAtt': ['ApiDomainName', 'RegionalDomainName'] },
      });
    } finally {
      withDomain.remove();
    }
  }, 240_000);

  it('refuses a consent profile whose redirect URI is not on the custom domain', async () => {
    const failed = await packageService(PACKAGED_PROFILES, 'ci', {
      domainName: 'other.example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666',
    });
    try {
      expect(failed.code).not.toBe(0);
      expect(failed.output).toContain(
        "profile consent-demo: redirectUri: abc123.execute-api.eu-west-1.amazonaws.com is not the stack's domain other.example.com; set it to https://other.example.com:443/consent/callback",
      );
    } finally {
      failed.remove();
    }
  }, 240_000);
});

describe('alarms, topic and dashboard', () => {
  const topic = [{ Ref: 'AlertTopic' }];
  const alarm = (id: string) => resources[id]!.Properties;

  it('sends every alarm to the one SNS topic, with an email subscription only when alarmEmail is set', () => {
    expect(ofType('AWS::SNS::Topic').map(([id]) => id)).toEqual(['AlertTopic']);
    const alarms = ofType('AWS::CloudWatch::Alarm');
    expect(alarms.map(([id]) => id).sort()).toEqual([
      'Api5xxAlarm',
      'CertificateExpiryAlarm',
      'RefreshFailuresAlarm',
      'RefreshFunctionErrorsAlarm',
      'RefreshFunctionThrottlesAlarm',
      'UpstreamErrorRateAlarm',
    ]);
    for (const [id, resource] of alarms) {
      expect(resource.Properties['AlarmActions'], id).toEqual(topic);
      expect(resource.Properties['OKActions'], id).toEqual(topic);
      expect(resource.Properties['TreatMissingData'], id).toBe('notBreaching');
    }
    const subscription = resources['AlertEmailSubscription'] as Resource & { Condition: string };
    expect(subscription.Condition).toBe('HasAlarmEmail');
    expect(subscription.Properties).toEqual({
      TopicArn: { Ref: 'AlertTopic' },
      Protocol: 'email',
      Endpoint: '',
    });
    const template = JSON.parse(
      readFileSync(join(packaged.out, 'cloudformation-template-update-stack.json'), 'utf8'),
    ) as { Conditions: unknown };
    expect((template.Conditions as Record<string, unknown>)['HasAlarmEmail']).toEqual({
      'Fn::Not': [{ 'Fn::Equals': ['', ''] }],
    });
  });

  it('alarms on a certificate expiring within 30 days, from CertificateDaysLeft', () => {
    expect(alarm('CertificateExpiryAlarm')).toMatchObject({
      Namespace: 'TokenBroker',
      MetricName: 'CertificateDaysLeft',
      Dimensions: [{ Name: 'service', Value: 'token-broker' }],
      Statistic: 'Minimum',
      Threshold: 30,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 1,
    });
  });

  it('alarms on refresh failures in 3 consecutive one-minute runs', () => {
    expect(alarm('RefreshFailuresAlarm')).toMatchObject({
      MetricName: 'RefreshFailures',
      Statistic: 'Sum',
      Period: 60,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const schedule = resources['RefreshEventsRuleSchedule1']?.Properties['ScheduleExpression'];
    expect(schedule).toBe('rate(1 minute)');
  });

  it('alarms on the upstream error rate as errors over exchanges', () => {
    const props = alarm('UpstreamErrorRateAlarm');
    expect(props['Threshold']).toBe(10);
    expect(props['Metrics'].map((m: any) => m.MetricStat?.Metric.MetricName ?? m.Expression)).toEqual([
      'UpstreamErrors',
      'CacheMisses',
      '100 * FILL(errors, 0) / MAX([FILL(errors, 0) + FILL(misses, 0), 1])',
    ]);
  });

  it('alarms on API 5xx and on refresh function errors and throttles', () => {
    expect(alarm('Api5xxAlarm')).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [
        { Name: 'ApiId', Value: { Ref: 'HttpApi' } },
        { Name: 'Stage', Value: '$default' },
      ],
      Threshold: 5,
    });
    for (const kind of ['Errors', 'Throttles']) {
      expect(alarm(`RefreshFunction${kind}Alarm`)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: kind,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'RefreshLambdaFunction' } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
  });

  it('has a dashboard with the per-profile metrics, the API 5xx and the refresh function', () => {
    const body = String(resources['Dashboard']!.Properties['DashboardBody']['Fn::Sub']);
    const widgets = (JSON.parse(body.replace(/\$\{[^}]+\}/g, 'x')) as { widgets: any[] }).widgets;
    expect(widgets.map((w) => w.properties.title)).toEqual([
      'Tokens issued per profile',
      'Upstream errors per profile',
      'Refresh failures per profile',
      'Certificate days left per profile',
      'API 5xx',
      'Refresh function errors and throttles',
    ]);
    for (const name of ['TokensIssued', 'UpstreamErrors', 'RefreshFailures', 'CertificateDaysLeft'])
      expect(body).toContain(`SEARCH('{TokenBroker,service,profile} MetricName=\\"${name}\\"'`);
  });
});
