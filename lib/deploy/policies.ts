/**
 * The IAM policies of each function's role (serverless.yml `resources`), derived from the
 * profiles file at package time: each role holds only what its code calls. KMS keys are
 * granted by the ids, ARNs and aliases the profiles name, never `*`.
 *
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html
 */
import type { BrokerConfig } from '../config/types.ts';
import { parseReference } from '../secrets/reference.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';

/** One IAM policy statement as CloudFormation takes it. */
export interface Statement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Action: readonly string[];
  readonly Resource: readonly unknown[];
  readonly Condition?: Readonly<Record<string, unknown>>;
}

/** A role's inline policy. */
export interface Policy {
  readonly PolicyName: string;
  readonly PolicyDocument: { readonly Version: '2012-10-17'; readonly Statement: readonly Statement[] };
}

/** The functions of serverless.yml that get a role of their own. */
export const ROLE_FUNCTIONS = ['token', 'health', 'consentStart', 'consentCallback', 'refresh'] as const;
export type RoleFunction = (typeof ROLE_FUNCTIONS)[number];

/** The table calls each function makes (lib/cache/dynamodb-store.ts, lib/consent/dynamodb-store.ts). */
export const TABLE_ACTIONS: Readonly<Record<RoleFunction, readonly string[]>> = {
  token: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  health: [],
  consentStart: [],
  consentCallback: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  refresh: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
};

const sub = (text: string) => ({ 'Fn::Sub': text });
const KEY_ARN = 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key';

/** Where the statements point: the stage, and the service name of the log groups. */
export interface PolicyContext {
  readonly stage: string;
  readonly service: string;
}

/** The secret ARNs of `secretsmanager:` references (a name gets Secrets Manager's 6-character suffix). */
function secretArns(references: readonly (string | undefined)[]): unknown[] {
  const out = new Map<string, unknown>();
  for (const reference of references) {
    if (reference === undefined || isKmsReference(reference)) continue;
    const parsed = parseReference(reference);
    if (parsed.scheme !== 'secretsmanager') continue;
    const id = parsed.secretId;
    out.set(
      id,
      id.startsWith('arn:')
        ? id
        : sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${id}-??????`),
    );
  }
  return [...out.values()];
}

/** Statements allowing `actions` on the profiles' KMS keys: by key ARN, and by alias through `kms:ResourceAliases`. */
export function kmsStatements(config: BrokerConfig, sid: string, actions: readonly string[]): Statement[] {
  const keys = new Set<unknown>();
  const keyArns = new Set<string>();
  const aliases = new Set<string>();
  for (const profile of Object.values(config.profiles)) {
    if (!isKmsReference(profile.certStore)) continue;
    const parsed = parseKmsReference(profile.certStore);
    if (typeof parsed === 'string') continue;
    const id = parsed.keyId;
    if (id.startsWith('arn:')) {
      if (/:alias\//.test(id)) aliases.add(id.slice(id.indexOf(':alias/') + 1));
      else keyArns.add(id);
    } else if (id.startsWith('alias/')) aliases.add(id);
    else keys.add(id);
  }
  const statements: Statement[] = [];
  const resources = [...keyArns, ...[...keys].map((id) => sub(`${KEY_ARN}/${String(id)}`))];
  if (resources.length > 0)
    statements.push({ Sid: `${sid}Keys`, Effect: 'Allow', Action: actions, Resource: resources });
  if (aliases.size > 0)
    statements.push({
      Sid: `${sid}Aliases`,
      Effect: 'Allow',
      Action: actions,
      Resource: [sub(`${KEY_ARN}/*`)],
      Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [...aliases].sort() } },
    });
  return statements;
}

/**
 * The inline policies of each function's role:
 * - every function: its own log group only;
 * - `token`, `refresh`, `consentCallback`: the stage's secrets, `kms:Sign` and
 *   `kms:GetPublicKey` on the profiles' keys, and the table calls they make; `refresh`
 *   also `Query` on the due index and `lambda:InvokeFunction` on itself (its shards);
 * - `consentStart`: the consent state key's secret, nothing else;
 * - `health`: for `?deep=1`, the key-material secrets (certStore, passwords, certificate)
 *   and `kms:DescribeKey` on the keys; no table, no client secret, no seal or state key.
 */
export function rolePolicies(config: BrokerConfig, context: PolicyContext): Record<RoleFunction, Policy[]> {
  const { stage, service } = context;
  const policies = {} as Record<RoleFunction, Policy[]>;
  const profiles = Object.values(config.profiles);
  for (const fn of ROLE_FUNCTIONS) {
    const statements: Statement[] = [
      {
        Sid: 'WriteOwnLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [
          sub(
            `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${service}-${stage}-${fn}:*`,
          ),
        ],
      },
    ];
    const signs = fn === 'token' || fn === 'refresh' || fn === 'consentCallback';
    if (signs) {
      statements.push({
        Sid: 'ReadStageSecrets',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [
          sub(
            `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${service}/${stage}/*`,
          ),
        ],
      });
      statements.push(...kmsStatements(config, 'SignWithProfileKms', ['kms:Sign', 'kms:GetPublicKey']));
    }
    const secrets =
      fn === 'consentStart'
        ? secretArns([config.consent.stateKey])
        : fn === 'health'
          ? secretArns(profiles.flatMap((p) => [p.certStore, p.certPassword, p.keyPassword, p.certificate]))
          : [];
    if (secrets.length > 0)
      statements.push({
        Sid: fn === 'health' ? 'ReadKeyMaterial' : 'ReadConsentStateKey',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: secrets,
      });
    if (fn === 'health') statements.push(...kmsStatements(config, 'DescribeProfileKms', ['kms:DescribeKey']));
    if (TABLE_ACTIONS[fn].length > 0)
      statements.push({
        Sid: 'UseCacheTable',
        Effect: 'Allow',
        Action: TABLE_ACTIONS[fn],
        Resource: [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }],
      });
    if (fn === 'refresh') {
      // The schedule reads only what is due, from the sparse due index (lib/cache/due.ts); nothing Scans.
      statements.push({
        Sid: 'QueryDueIndex',
        Effect: 'Allow',
        Action: ['dynamodb:Query'],
        Resource: [{ 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }, 'index', 'due']] }],
      });
      // The scheduled run fans out to `refresh.shards` workers: asynchronous invocations of
      // the refresh function itself (lib/refresh/dispatch.ts).
      statements.push({
        Sid: 'InvokeRefreshShards',
        Effect: 'Allow',
        Action: ['lambda:InvokeFunction'],
        Resource: [
          sub(
            `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${service}-${stage}-refresh`,
          ),
        ],
      });
    }
    policies[fn] = [
      {
        PolicyName: `${fn}-least-privilege`,
        PolicyDocument: { Version: '2012-10-17', Statement: statements },
      },
    ];
  }
  return policies;
}
