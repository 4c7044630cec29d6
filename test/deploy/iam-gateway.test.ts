/**
 * The IAM gateway without packaging: a small template's role, the real SDK clients, the
 * loopback Secrets Manager and KMS, dynalite and the Lambda Invoke fake. What IAM allows
 * passes; what it denies is answered as the service answers it.
 */
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  GetWebIdentityTokenCommand,
  STSClient,
  type GetWebIdentityTokenCommandInput,
} from '@aws-sdk/client-sts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { EVENT_STATE_STATEMENT, putEventsStatement } from '../../lib/deploy/policies.ts';
import { fetchFromSecretsManager } from '../../lib/secrets/secrets-manager.ts';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { ARTEFACT_PLACE, enforceIam, type EnforcedIam } from '../support/iam-stack.ts';
import { resolveIntrinsics } from '../support/iam-template.ts';
import { startKmsServer, type KmsServer, type LoopbackKey } from '../support/kms-server.ts';
import { startLambdaInvokeServer, type LambdaInvokeServer } from '../support/lambda-invoke-server.ts';
import { ROOT, type Resource } from '../support/osls-package.ts';
import {
  secretsManagerClient,
  startSecretsManager,
  type SecretsManagerServer,
} from '../support/secrets-manager-server.ts';
import { startStsServer, type StsServer } from '../support/sts-server.ts';

const ACCOUNT = ARTEFACT_PLACE.account;
const ARN = `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret`;
const TABLE = 'tb-iam-cache';
const TABLE_ARN = `arn:aws:dynamodb:eu-west-1:${ACCOUNT}:table/${TABLE}`;
const CMK = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b`;
const OTHER_CMK = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/00000000-1111-2222-3333-444444444444`;
const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/token-broker-ci-TokenRole/token-broker-ci-token`;
const KEY_ARNS = 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key';

const allow = (Sid: string, Action: string[], Resource: unknown[], Condition?: unknown) => ({
  Sid,
  Effect: 'Allow',
  Action,
  Resource,
  ...(Condition === undefined ? {} : { Condition }),
});

/** A template as `osls package` writes it: a function, its role's inline policy, the table. */
const RESOURCES: Record<string, Resource> = {
  TokenLambdaFunction: {
    Type: 'AWS::Lambda::Function',
    Properties: { Role: { 'Fn::GetAtt': ['TokenRole', 'Arn'] } },
  },
  TokenRole: {
    Type: 'AWS::IAM::Role',
    Properties: {
      Policies: [
        {
          PolicyName: 'token-least-privilege',
          PolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              allow(
                'StageSecrets',
                ['secretsmanager:GetSecretValue'],
                [
                  {
                    'Fn::Sub':
                      'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:token-broker/ci/*',
                  },
                ],
              ),
              allow(
                'OneSecret',
                ['secretsmanager:GetSecretValue'],
                [
                  {
                    'Fn::Sub':
                      'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:security-team/keystore-??????',
                  },
                ],
              ),
              allow('DecryptSecrets', ['kms:Decrypt'], [CMK], {
                StringEquals: {
                  'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.amazonaws.com' },
                },
              }),
              allow('SignAliases', ['kms:Sign', 'kms:GetPublicKey'], [{ 'Fn::Sub': `${KEY_ARNS}/*` }], {
                'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/signing'] },
              }),
              allow('UseTable', ['dynamodb:GetItem'], [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }]),
              allow(
                'QueryDueIndex',
                ['dynamodb:Query'],
                [{ 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }, 'index', 'due']] }],
              ),
              allow(
                'InvokeRefresh',
                ['lambda:InvokeFunction'],
                [
                  {
                    'Fn::Sub':
                      'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-refresh',
                  },
                ],
              ),
            ],
          },
        },
      ],
    },
  },
  CacheTable: { Type: 'AWS::DynamoDB::Table', Properties: {} },
};

describe('IAM gateway', () => {
  let secrets: SecretsManagerServer;
  let kms: KmsServer;
  let dynalite: Dynalite;
  let lambda: LambdaInvokeServer;
  let iam: EnforcedIam;
  let signing: LoopbackKey;
  let other: LoopbackKey;
  let env: Record<string, string>;

  const credentials = () => ({
    accessKeyId: env['AWS_ACCESS_KEY_ID']!,
    secretAccessKey: env['AWS_SECRET_ACCESS_KEY']!,
    sessionToken: env['AWS_SESSION_TOKEN']!,
  });
  const config = (endpoint: string) => ({
    endpoint,
    region: 'eu-west-1',
    credentials: credentials(),
    maxAttempts: 1,
  });
  const sm = (): SecretsManagerClient => {
    const client = secretsManagerClient(env['AWS_ENDPOINT_URL_SECRETS_MANAGER']!);
    client.config.credentials = async () => credentials();
    return client;
  };
  const read = (secretId: string) => sm().send(new GetSecretValueCommand({ SecretId: secretId }));
  const lastDecisions = (count: number) => iam.authority.decisions.slice(-count);

  beforeAll(async () => {
    secrets = await startSecretsManager();
    kms = await startKmsServer({ region: 'eu-west-1', account: ACCOUNT });
    dynalite = await startDynalite();
    lambda = await startLambdaInvokeServer();
    signing = kms.createKey('ECC_NIST_P256', 'alias/signing');
    other = kms.createKey('ECC_NIST_P256', 'alias/other');
    for (const name of [
      'token-broker/ci/a',
      'security-team/keystore',
      'security-team/keystore-extra',
      'other/secret',
    ])
      secrets.put(name, { text: `value of ${name}` });
    secrets.put('token-broker/ci/cmk', { text: 'under the CMK' }, undefined, { kmsKeyId: CMK });
    secrets.put('token-broker/ci/other-cmk', { text: 'under another CMK' }, undefined, {
      kmsKeyId: OTHER_CMK,
    });
    secrets.put('token-broker/ci/managed', { text: 'aws/secretsmanager' }, undefined, {
      kmsKeyId: 'alias/aws/secretsmanager',
    });
    const admin: DynamoDBClient = dynalite.client({ region: 'eu-west-1' });
    await admin.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'dueSlot', AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'due',
            KeySchema: [{ AttributeName: 'dueSlot', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
      }),
    );
    admin.destroy();
    iam = await enforceIam({
      resources: RESOURCES,
      stackName: 'token-broker-ci',
      functions: { token: 'TokenLambdaFunction' },
      table: TABLE,
      upstreams: {
        secretsmanager: secrets.endpoint,
        dynamodb: dynalite.endpoint,
        kms: kms.url,
        lambda: lambda.endpoint,
      },
      lookups: { secret: (id) => secrets.describe(id), key: (id) => kms.describe(id) },
    });
    env = iam.environment('token');
  });

  afterAll(async () => {
    await iam?.close();
    await Promise.all([secrets?.close(), kms?.close(), dynalite?.close(), lambda?.close()]);
  });

  it("resolves the template's intrinsics (Fn::Sub, Fn::GetAtt, Fn::Join, Ref) into the role's documents", () => {
    const role = iam.roles['token']!;
    expect(role.roleName).toBe('token-broker-ci-TokenRole');
    expect(role.roleArn).toBe(`arn:aws:iam::${ACCOUNT}:role/token-broker-ci-TokenRole`);
    const resources = role.policies[0]!.document.Statement.map((s) => s['Resource']);
    expect(resources).toEqual([
      [`${ARN}:token-broker/ci/*`],
      [`${ARN}:security-team/keystore-??????`],
      [CMK],
      [`arn:aws:kms:eu-west-1:${ACCOUNT}:key/*`],
      [TABLE_ARN],
      [`${TABLE_ARN}/index/due`],
      [`arn:aws:lambda:eu-west-1:${ACCOUNT}:function:token-broker-ci-refresh`],
    ]);
    expect(role.policies[0]!.document.Statement[2]!['Condition']).toEqual({
      StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
    });
    const facts = { ...ARTEFACT_PLACE, stackName: 's', refs: { CacheTable: TABLE }, attributes: {} };
    expect(resolveIntrinsics({ Ref: 'CacheTable' }, facts)).toBe(TABLE);
    expect(resolveIntrinsics({ 'Fn::Sub': ['${A}-${!Literal}', { A: { Ref: 'AWS::Region' } }] }, facts)).toBe(
      'eu-west-1-${Literal}',
    );
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'x' }, facts)).toThrow(
      'Fn::ImportValue is not resolved by this test support',
    );
    expect(() => resolveIntrinsics({ Ref: 'Nowhere' }, facts)).toThrow(
      'Ref Nowhere: no value for it in this stack',
    );
  });

  it('Secrets Manager: a wildcard grant allows the stage; by name, partial ARN or full ARN the decision is on the full ARN', async () => {
    for (const id of ['token-broker/ci/a', `${ARN}:token-broker/ci/a`, `${ARN}:token-broker/ci/a-AbCdEf`]) {
      expect((await read(id)).SecretString).toBe('value of token-broker/ci/a');
      expect(lastDecisions(1)[0]).toMatchObject({
        function: 'token',
        principal: SESSION,
        action: 'secretsmanager:GetSecretValue',
        resource: `${ARN}:token-broker/ci/a-AbCdEf`,
        allowed: true,
        result: 'Allowed',
      });
    }
  });

  it("Secrets Manager: -?????? matches the secret's own 6-character suffix, not a longer name; a refusal is AWS's AccessDeniedException", async () => {
    expect((await read('security-team/keystore')).SecretString).toBe('value of security-team/keystore');
    const refused = await read('security-team/keystore-extra').catch((e: unknown) => e);
    expect(refused).toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${ARN}:security-team/keystore-extra-AbCdEf because no identity-based policy allows the secretsmanager:GetSecretValue action`,
      $metadata: { httpStatusCode: 400 },
    });
    await expect(read('other/secret')).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(secrets.reads('security-team/keystore-extra')).toBe(0);
    expect(secrets.reads('other/secret')).toBe(0);
  });

  it('Secrets Manager: the broker maps the refusal to ERR_SECRET_ACCESS_DENIED, "access denied"', async () => {
    const client = sm();
    const error = await fetchFromSecretsManager(
      { client: () => client, sleep: async () => undefined },
      'secretsmanager:other/secret',
      {
        scheme: 'secretsmanager',
        secretId: 'other/secret',
        field: undefined,
        stage: undefined,
        version: undefined,
      },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_SECRET_ACCESS_DENIED',
      message:
        'secret "secretsmanager:other/secret": access denied; allow secretsmanager:GetSecretValue on it for this role',
    });
  });

  it('Secrets Manager under a customer-managed key: kms:Decrypt with kms:ViaService allows it; without, "Access to KMS is not allowed"', async () => {
    expect((await read('token-broker/ci/cmk')).SecretString).toBe('under the CMK');
    expect(lastDecisions(2)).toMatchObject([
      {
        action: 'secretsmanager:GetSecretValue',
        resource: `${ARN}:token-broker/ci/cmk-AbCdEf`,
        allowed: true,
      },
      {
        action: 'kms:Decrypt',
        resource: CMK,
        allowed: true,
        context: {
          'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com',
          'kms:EncryptionContext:SecretARN': `${ARN}:token-broker/ci/cmk-AbCdEf`,
        },
      },
    ]);
    await expect(read('token-broker/ci/other-cmk')).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: 'Access to KMS is not allowed',
      $metadata: { httpStatusCode: 400 },
    });
    expect(lastDecisions(1)[0]).toMatchObject({ action: 'kms:Decrypt', resource: OTHER_CMK, allowed: false });
    // The AWS managed key needs no grant of the role's.
    expect((await read('token-broker/ci/managed')).SecretString).toBe('aws/secretsmanager');
    expect(lastDecisions(1)[0]).toMatchObject({ action: 'secretsmanager:GetSecretValue', allowed: true });
  });

  it('KMS: kms:Decrypt called directly (no kms:ViaService) is refused though the key is granted through Secrets Manager', async () => {
    const client = new KMSClient(config(env['AWS_ENDPOINT_URL_KMS']!));
    await expect(
      client.send(new DecryptCommand({ KeyId: CMK, CiphertextBlob: new Uint8Array([1, 2, 3]) })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: kms:Decrypt on resource: ${CMK} because no identity-based policy allows the kms:Decrypt action`,
    });
    client.destroy();
  });

  it('KMS: an alias grant (kms:ResourceAliases) allows the aliased key by id, key ARN or alias; another key is refused', async () => {
    const client = new KMSClient(config(env['AWS_ENDPOINT_URL_KMS']!));
    for (const keyId of [
      signing.keyId,
      signing.arn,
      'alias/signing',
      `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/signing`,
    ]) {
      expect((await client.send(new GetPublicKeyCommand({ KeyId: keyId }))).KeyId).toBe(signing.arn);
      expect(lastDecisions(1)[0]).toMatchObject({
        action: 'kms:GetPublicKey',
        resource: signing.arn,
        context: { 'kms:ResourceAliases': ['alias/signing'] },
        allowed: true,
      });
    }
    await expect(client.send(new GetPublicKeyCommand({ KeyId: 'alias/other' }))).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: kms:GetPublicKey on resource: ${other.arn} because no identity-based policy allows the kms:GetPublicKey action`,
      $metadata: { httpStatusCode: 400 },
    });
    client.destroy();
  });

  it("DynamoDB: GetItem on the table and Query on the due index pass; Query on the table is refused with DynamoDB's error", async () => {
    const client = dynalite.client({ ...config(env['AWS_ENDPOINT_URL_DYNAMODB']!) });
    await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'x' } } }));
    await client.send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: 'due',
        KeyConditionExpression: 'dueSlot = :s',
        ExpressionAttributeValues: { ':s': { N: '1' } },
      }),
    );
    expect(lastDecisions(2).map((d) => [d.action, d.resource, d.allowed])).toEqual([
      ['dynamodb:GetItem', TABLE_ARN, true],
      ['dynamodb:Query', `${TABLE_ARN}/index/due`, true],
    ]);
    const query = new QueryCommand({
      TableName: TABLE,
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': { S: 'x' } },
    });
    await expect(client.send(query)).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: dynamodb:Query on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:Query action`,
      $metadata: { httpStatusCode: 400 },
    });
    client.destroy();
    // On the wire: DynamoDB's JSON 1.0 error, its namespaced __type.
    const raw = await fetch(env['AWS_ENDPOINT_URL_DYNAMODB']!, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.Scan',
        authorization: `AWS4-HMAC-SHA256 Credential=${env['AWS_ACCESS_KEY_ID']}/20300101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: JSON.stringify({ TableName: TABLE }),
    });
    expect(raw.status).toBe(400);
    expect(raw.headers.get('content-type')).toBe('application/x-amz-json-1.0');
    expect(await raw.json()).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#AccessDeniedException',
      Message: `User: ${SESSION} is not authorized to perform: dynamodb:Scan on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:Scan action`,
    });
  });

  it('Lambda: InvokeFunction on the granted function passes; another is 403 AccessDeniedException', async () => {
    const client = new LambdaClient(config(env['AWS_ENDPOINT_URL_LAMBDA']!));
    const seen = lambda.invocations.length;
    await client.send(
      new InvokeCommand({ FunctionName: 'token-broker-ci-refresh', InvocationType: 'Event' }),
    );
    expect(lambda.invocations.length - seen).toBe(1);
    await expect(
      client.send(new InvokeCommand({ FunctionName: 'token-broker-ci-token', InvocationType: 'Event' })),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-1:${ACCOUNT}:function:token-broker-ci-token because no identity-based policy allows the lambda:InvokeFunction action`,
      $metadata: { httpStatusCode: 403 },
    });
    expect(lambda.invocations.length - seen).toBe(1);
    client.destroy();
  });

  it('an unknown access key id is refused (UnrecognizedClientException) and recorded', async () => {
    const client = secretsManagerClient(env['AWS_ENDPOINT_URL_SECRETS_MANAGER']!);
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: 'token-broker/ci/a' })),
    ).rejects.toMatchObject({
      name: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    });
    expect(lastDecisions(1)[0]).toMatchObject({
      accessKeyId: 'AKIDEXAMPLE',
      function: undefined,
      allowed: false,
      result: 'UnknownAccessKey',
    });
  });

  it("drops a role's statements and puts them back", async () => {
    const restore = iam.authority.dropStatements('token', (s) => s['Sid'] === 'StageSecrets');
    await expect(read('token-broker/ci/a')).rejects.toMatchObject({ name: 'AccessDeniedException' });
    restore();
    expect((await read('token-broker/ci/a')).SecretString).toBe('value of token-broker/ci/a');
  });

  it('iam-simulate (AGPL-3.0) is imported by test support only, never by what is packaged', () => {
    const importers = ['lib', 'functions', 'serverless'].flatMap((dir) =>
      readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
        .filter((f) => /\.(?:ts|mts|cts|js|mjs|cjs)$/.test(f))
        .filter((f) => readFileSync(join(ROOT, dir, f), 'utf8').includes('@cloud-copilot/'))
        .map((f) => join(dir, f)),
    );
    expect(importers).toEqual([]);
  });
});

describe('IAM gateway: STS GetWebIdentityToken (query protocol)', () => {
  const AUDIENCE = 'api://AzureADTokenExchange';
  const GOOGLE = 'https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/r';
  const KEYLESS: Record<string, Resource> = {
    TokenLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Role: { 'Fn::GetAtt': ['TokenRole', 'Arn'] } },
    },
    TokenRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Policies: [
          {
            PolicyName: 'token-least-privilege',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                allow('WebIdentity', ['sts:GetWebIdentityToken'], ['*'], {
                  'ForAllValues:StringEquals': { 'sts:IdentityTokenAudience': [AUDIENCE, GOOGLE] },
                  NumericLessThanEquals: { 'sts:DurationSeconds': 900 },
                }),
                allow('TagWebIdentity', ['sts:TagGetWebIdentityToken'], ['*'], {
                  'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] },
                }),
              ],
            },
          },
        ],
      },
    },
  };
  const UNUSED = 'http://127.0.0.1:9';
  let sts: StsServer;
  let iam: EnforcedIam;
  let env: Record<string, string>;
  let client: STSClient;
  const ask = (input: Partial<GetWebIdentityTokenCommandInput> = {}) =>
    client.send(
      new GetWebIdentityTokenCommand({
        Audience: [AUDIENCE],
        SigningAlgorithm: 'RS256',
        DurationSeconds: 300,
        ...input,
      }),
    );

  beforeAll(async () => {
    // The loopback STS signs as the role the gateway's authority knows the access key by.
    const roles = new Proxy<Record<string, string>>(
      {},
      { get: (_, key) => iam.authority.principal(String(key))?.role.roleArn },
    );
    sts = await startStsServer({ principals: roles });
    iam = await enforceIam({
      resources: KEYLESS,
      stackName: 'token-broker-ci',
      functions: { token: 'TokenLambdaFunction' },
      table: TABLE,
      upstreams: { secretsmanager: UNUSED, dynamodb: UNUSED, kms: UNUSED, lambda: UNUSED, sts: sts.endpoint },
      lookups: {},
    });
    env = iam.environment('token');
    client = new STSClient({
      endpoint: env['AWS_ENDPOINT_URL_STS']!,
      region: 'eu-west-1',
      credentials: {
        accessKeyId: env['AWS_ACCESS_KEY_ID']!,
        secretAccessKey: env['AWS_SECRET_ACCESS_KEY']!,
        sessionToken: env['AWS_SESSION_TOKEN']!,
      },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await iam?.close();
    await sts?.close();
  });

  it('allows the audiences and duration the conditions name; the JWT names the role, the decision its context', async () => {
    const seen = sts.calls.length;
    const out = await ask({
      Audience: [AUDIENCE, GOOGLE],
      DurationSeconds: 900,
      Tags: [{ Key: 'team', Value: 'billing' }],
    });
    const claims = JSON.parse(
      Buffer.from(out.WebIdentityToken!.split('.')[1]!, 'base64url').toString('utf8'),
    );
    expect(claims.sub).toBe(`arn:aws:iam::${ACCOUNT}:role/token-broker-ci-TokenRole`);
    expect(sts.calls.length - seen).toBe(1);
    expect(iam.authority.decisions.at(-1)).toMatchObject({
      function: 'token',
      action: 'sts:TagGetWebIdentityToken',
      context: { 'aws:TagKeys': ['team'], 'aws:RequestTag/team': 'billing' },
      allowed: true,
    });
    expect(iam.authority.decisions.at(-2)).toMatchObject({
      function: 'token',
      principal: SESSION,
      action: 'sts:GetWebIdentityToken',
      resource: '*',
      context: {
        'sts:IdentityTokenAudience': [AUDIENCE, GOOGLE],
        'sts:SigningAlgorithm': 'RS256',
        'sts:DurationSeconds': '900',
        'aws:TagKeys': ['team'],
        'aws:RequestTag/team': 'billing',
      },
      allowed: true,
    });
  });

  it("without the statement: AccessDenied, HTTP 403, in the query protocol's XML; STS never asked", async () => {
    const seen = sts.calls.length;
    const restore = iam.authority.dropStatements('token', (s) => s['Sid'] === 'WebIdentity');
    try {
      await expect(ask()).rejects.toMatchObject({
        name: 'AccessDenied',
        message: `User: ${SESSION} is not authorized to perform: sts:GetWebIdentityToken on resource: * because no identity-based policy allows the sts:GetWebIdentityToken action`,
        $metadata: { httpStatusCode: 403 },
      });
    } finally {
      restore();
    }
    await expect(ask()).resolves.toHaveProperty('WebIdentityToken');
    expect(sts.calls.length - seen).toBe(1);
  });

  it('refuses an audience outside ForAllValues:StringEquals, a longer duration, and no DurationSeconds at all', async () => {
    const seen = sts.calls.length;
    for (const input of [
      { Audience: [AUDIENCE, 'https://elsewhere.example'] },
      { DurationSeconds: 901 },
      { DurationSeconds: undefined },
    ])
      await expect(ask(input)).rejects.toMatchObject({
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    expect(sts.calls.length - seen).toBe(0);
    expect(iam.authority.decisions.at(-3)?.context['sts:IdentityTokenAudience']).toEqual([
      AUDIENCE,
      'https://elsewhere.example',
    ]);
    expect(iam.authority.decisions.at(-1)?.context).not.toHaveProperty('sts:DurationSeconds');
  });

  it('tags need sts:TagGetWebIdentityToken for their keys: another key, or the statement dropped, is AccessDenied', async () => {
    const seen = sts.calls.length;
    await expect(ask({ Tags: [{ Key: 'owner', Value: 'billing' }] })).rejects.toMatchObject({
      name: 'AccessDenied',
      message: expect.stringContaining('sts:TagGetWebIdentityToken'),
      $metadata: { httpStatusCode: 403 },
    });
    const restore = iam.authority.dropStatements('token', (s) => s['Sid'] === 'TagWebIdentity');
    try {
      await expect(ask({ Tags: [{ Key: 'team', Value: 'billing' }] })).rejects.toMatchObject({
        name: 'AccessDenied',
      });
      // Without tags the call needs no tagging permission.
      await expect(ask()).resolves.toHaveProperty('WebIdentityToken');
    } finally {
      restore();
    }
    expect(sts.calls.length - seen).toBe(1);
  });

  it('an unknown access key id is InvalidClientTokenId (403)', async () => {
    const stranger = new STSClient({
      endpoint: env['AWS_ENDPOINT_URL_STS']!,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDSTRANGER', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    await expect(
      stranger.send(new GetWebIdentityTokenCommand({ Audience: [AUDIENCE], SigningAlgorithm: 'RS256' })),
    ).rejects.toMatchObject({ name: 'InvalidClientTokenId', $metadata: { httpStatusCode: 403 } });
    stranger.destroy();
  });
});

describe('IAM gateway: EventBridge PutEvents (JSON 1.1)', () => {
  const DEFAULT_BUS = `arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/default`;
  const EMITTING: Record<string, Resource> = {
    TokenLambdaFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Role: { 'Fn::GetAtt': ['TokenRole', 'Arn'] } },
    },
    TokenRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        Policies: [
          {
            PolicyName: 'token-least-privilege',
            // The template's own statements (lib/deploy/policies.ts), on the default bus.
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [EVENT_STATE_STATEMENT, putEventsStatement(undefined)],
            },
          },
        ],
      },
    },
  };
  const UNUSED = 'http://127.0.0.1:9';
  let bus: EventBridgeServer;
  let dynalite: Dynalite;
  let iam: EnforcedIam;
  let client: EventBridgeClient;
  let table: DynamoDBClient;
  const entry = (detailType: string, eventBusName?: string) => ({
    Source: 'token-broker',
    DetailType: detailType,
    Detail: JSON.stringify({ version: '1', profile: 'billing', at: '2026-12-07T03:00:00.000Z' }),
    ...(eventBusName === undefined ? {} : { EventBusName: eventBusName }),
  });

  beforeAll(async () => {
    bus = await startEventBridgeServer();
    dynalite = await startDynalite();
    const admin = dynalite.client({ region: 'eu-west-1' });
    await admin.send(
      new CreateTableCommand({
        TableName: TABLE,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    admin.destroy();
    iam = await enforceIam({
      resources: { ...EMITTING, CacheTable: { Type: 'AWS::DynamoDB::Table', Properties: {} } },
      stackName: 'token-broker-ci',
      functions: { token: 'TokenLambdaFunction' },
      table: TABLE,
      upstreams: {
        secretsmanager: UNUSED,
        dynamodb: dynalite.endpoint,
        kms: UNUSED,
        lambda: UNUSED,
        events: bus.endpoint,
      },
      lookups: {},
    });
    const env = iam.environment('token');
    client = new EventBridgeClient({
      endpoint: env['AWS_ENDPOINT_URL_EVENTBRIDGE']!,
      region: 'eu-west-1',
      credentials: {
        accessKeyId: env['AWS_ACCESS_KEY_ID']!,
        secretAccessKey: env['AWS_SECRET_ACCESS_KEY']!,
        sessionToken: env['AWS_SESSION_TOKEN']!,
      },
      maxAttempts: 1,
    });
    table = new DynamoDBClient({
      endpoint: env['AWS_ENDPOINT_URL_DYNAMODB']!,
      region: 'eu-west-1',
      credentials: {
        accessKeyId: env['AWS_ACCESS_KEY_ID']!,
        secretAccessKey: env['AWS_SECRET_ACCESS_KEY']!,
        sessionToken: env['AWS_SESSION_TOKEN']!,
      },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    table?.destroy();
    await iam?.close();
    await Promise.all([bus?.close(), dynalite?.close()]);
  });

  it("DynamoDB: DeleteItem passes for the events' state items (dynamodb:LeadingKeys event#…) and is refused for a cached token's item", async () => {
    const remove = (pk: string) =>
      table.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: { S: pk } } }));
    await expect(remove('event#refresh#billing#1a2b3c4d')).resolves.toHaveProperty('$metadata');
    expect(iam.authority.decisions.at(-1)).toMatchObject({
      action: 'dynamodb:DeleteItem',
      resource: TABLE_ARN,
      context: { 'dynamodb:LeadingKeys': ['event#refresh#billing#1a2b3c4d'] },
      allowed: true,
    });
    await expect(remove('v2#0f1e2d3c')).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: dynamodb:DeleteItem on resource: ${TABLE_ARN} because no identity-based policy allows the dynamodb:DeleteItem action`,
    });
  });

  it('passes entries on the granted bus (by name, by ARN, or none given: the default), one decision per entry with its source and detail type', async () => {
    const seen = bus.events.length;
    const decided = iam.authority.decisions.length;
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          entry('Token Refresh Failed'),
          entry('Consent Required', 'default'),
          entry('Key Rejected', DEFAULT_BUS),
        ],
      }),
    );
    expect(out.FailedEntryCount).toBe(0);
    expect(bus.events.slice(seen).map((e) => e.DetailType)).toEqual([
      'Token Refresh Failed',
      'Consent Required',
      'Key Rejected',
    ]);
    const decisions = iam.authority.decisions.slice(decided);
    expect(decisions.map((d) => [d.action, d.resource, d.allowed])).toEqual([
      ['events:PutEvents', DEFAULT_BUS, true],
      ['events:PutEvents', DEFAULT_BUS, true],
      ['events:PutEvents', DEFAULT_BUS, true],
    ]);
    expect(decisions[0]!.context).toEqual({
      'events:source': ['token-broker'],
      'events:detail-type': ['Token Refresh Failed'],
    });
  });

  it("refuses another bus, or the granted one once the statement is dropped, with EventBridge's AccessDeniedException (400); nothing reaches the bus", async () => {
    const requests = bus.requests();
    const other = `arn:aws:events:eu-west-1:${ACCOUNT}:event-bus/other-team`;
    await expect(
      client.send(
        new PutEventsCommand({ Entries: [entry('Consent Granted'), entry('Consent Granted', 'other-team')] }),
      ),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
      message: `User: ${SESSION} is not authorized to perform: events:PutEvents on resource: ${other} because no identity-based policy allows the events:PutEvents action`,
      $metadata: { httpStatusCode: 400 },
    });
    const restore = iam.authority.dropStatements('token', (s) => s['Sid'] === 'PutProfileEvents');
    try {
      await expect(
        client.send(new PutEventsCommand({ Entries: [entry('Consent Granted')] })),
      ).rejects.toMatchObject({
        name: 'AccessDeniedException',
        message: `User: ${SESSION} is not authorized to perform: events:PutEvents on resource: ${DEFAULT_BUS} because no identity-based policy allows the events:PutEvents action`,
      });
    } finally {
      restore();
    }
    expect(bus.requests()).toBe(requests);
    await expect(
      client.send(new PutEventsCommand({ Entries: [entry('Consent Granted')] })),
    ).resolves.toMatchObject({
      FailedEntryCount: 0,
    });
    expect(bus.requests()).toBe(requests + 1);
  });
});
