/**
 * The IAM policies of each function's role (serverless.yml `resources`), derived from the
 * profiles file at package time: each role holds only what its code calls. Secrets are
 * granted by the names and ARNs the references give (secret-reads.ts), wherever they live;
 * KMS keys by the ids, ARNs and aliases the profiles name; never `*`.
 *
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html
 */
import type { BrokerConfig } from '../config/types.ts';
import { parseReference } from '../secrets/reference.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';
import { ROLE_FUNCTIONS, secretUses, type RoleFunction } from './secret-reads.ts';
import { busArn } from './notify.ts';
import { WEB_IDENTITY_FUNCTIONS, webIdentityStatements } from './web-identity-policy.ts';

export { ROLE_FUNCTIONS, type RoleFunction } from './secret-reads.ts';

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
const SECRET_ARN = 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret';

/** Where the statements point: the stage, the service name of the log groups, the stack's params. */
export interface PolicyContext {
  readonly stage: string;
  readonly service: string;
  /** The seal key reference the stack gives (param `cacheSealKey`). */
  readonly cacheSealKey?: string | undefined;
  /** Customer-managed KMS keys that encrypt the secrets (param `secretsKmsKeys`): ids, ARNs or aliases. */
  readonly secretsKmsKeys?: readonly string[] | undefined;
  /** The bus the functions put events on (param `eventBus`): a name or an ARN; default `default`. */
  readonly eventBus?: string | undefined;
}

/** The functions that put events (lib/events): the token exchange, the schedule, the consent callback. */
export const EVENT_FUNCTIONS: readonly RoleFunction[] = ['token', 'refresh', 'consentCallback'];

/**
 * The events' repeat-prevention state (lib/events/dynamodb-state.ts) is items `event#…`
 * of the cache table, deleted when a condition clears: `DeleteItem` on those items only
 * (`dynamodb:LeadingKeys`, the partition key of every item the call touches).
 *
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html
 */
export const EVENT_STATE_STATEMENT: Statement = {
  Sid: 'ClearEventState',
  Effect: 'Allow',
  Action: ['dynamodb:DeleteItem'],
  Resource: [{ 'Fn::GetAtt': ['CacheTable', 'Arn'] }],
  Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['event#*'] } },
};

/**
 * `events:PutEvents` on the stack's bus only (a name in the stack's account and region,
 * an ARN as given).
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-identity-based.html
 */
export function putEventsStatement(eventBus: string | undefined): Statement {
  return {
    Sid: 'PutProfileEvents',
    Effect: 'Allow',
    Action: ['events:PutEvents'],
    Resource: [busArn(eventBus)],
  };
}

/**
 * The resources of a secret as IAM sees it. A name gets Secrets Manager's 6-character
 * suffix (`-??????`). An ARN is taken as written and with the suffix added: a full ARN
 * already ends in it, a partial one (the name alone) does not, and the two cannot be told
 * apart when the name itself ends in a hyphen and six characters.
 */
function secretResources(secretId: string): unknown[] {
  if (secretId.startsWith('arn:')) return [secretId, `${secretId}-??????`];
  return [sub(`${SECRET_ARN}:${secretId}-??????`)];
}

/** The Secrets Manager resources `fn` reads (`secretsmanager:` references only). */
export function secretArnsOf(
  config: BrokerConfig,
  fn: RoleFunction,
  context: Pick<PolicyContext, 'cacheSealKey'>,
): unknown[] {
  const out = new Map<string, unknown>();
  for (const { reference } of secretUses(config, fn, { cacheSealKey: context.cacheSealKey })) {
    const parsed = parseReference(reference);
    if (parsed.scheme !== 'secretsmanager') continue;
    for (const resource of secretResources(parsed.secretId)) out.set(JSON.stringify(resource), resource);
  }
  return [...out.values()];
}

/** Key ARNs and aliases from KMS key references (`kms:` profiles, `secretsKmsKeys`). */
function keyResources(keyIds: readonly string[]): { resources: unknown[]; aliases: string[] } {
  const keys = new Set<string>();
  const keyArns = new Set<string>();
  const aliases = new Set<string>();
  for (const id of keyIds) {
    if (id.startsWith('arn:')) {
      if (/:alias\//.test(id)) aliases.add(id.slice(id.indexOf(':alias/') + 1));
      else keyArns.add(id);
    } else if (id.startsWith('alias/')) aliases.add(id);
    else keys.add(id);
  }
  return {
    resources: [...keyArns, ...[...keys].map((id) => sub(`${KEY_ARN}/${id}`))],
    aliases: [...aliases].sort(),
  };
}

/** Statements allowing `actions` on KMS keys: by key ARN, and by alias through `kms:ResourceAliases`. */
function keyStatements(
  keyIds: readonly string[],
  sid: string,
  actions: readonly string[],
  condition: Readonly<Record<string, Record<string, unknown>>> = {},
): Statement[] {
  const { resources, aliases } = keyResources(keyIds);
  const statements: Statement[] = [];
  const extra = Object.keys(condition).length > 0 ? condition : undefined;
  if (resources.length > 0)
    statements.push({
      Sid: `${sid}Keys`,
      Effect: 'Allow',
      Action: actions,
      Resource: resources,
      ...(extra && { Condition: extra }),
    });
  if (aliases.length > 0)
    statements.push({
      Sid: `${sid}Aliases`,
      Effect: 'Allow',
      Action: actions,
      Resource: [sub(`${KEY_ARN}/*`)],
      Condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': aliases }, ...extra },
    });
  return statements;
}

/** The key ids, ARNs and aliases of the profiles' `kms:` certStores. */
function profileKeyIds(config: BrokerConfig): string[] {
  const ids: string[] = [];
  for (const profile of Object.values(config.profiles)) {
    if (!isKmsReference(profile.certStore)) continue;
    const parsed = parseKmsReference(profile.certStore);
    if (typeof parsed !== 'string') ids.push(parsed.keyId);
  }
  return ids;
}

/** Statements allowing `actions` on the profiles' KMS keys. */
export function kmsStatements(config: BrokerConfig, sid: string, actions: readonly string[]): Statement[] {
  return keyStatements(profileKeyIds(config), sid, actions);
}

/**
 * `kms:Decrypt` on the customer-managed keys that encrypt the secrets, only when Secrets
 * Manager asks for it on the function's behalf (`kms:ViaService`).
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
 */
function secretsDecryptStatements(keyIds: readonly string[]): Statement[] {
  return keyStatements(keyIds, 'DecryptSecrets', ['kms:Decrypt'], {
    StringEquals: { 'kms:ViaService': sub('secretsmanager.${AWS::Region}.amazonaws.com') },
  });
}

/**
 * The inline policies of each function's role:
 * - every function: its own log group only;
 * - every function: `secretsmanager:GetSecretValue` on exactly the secrets its code reads
 *   (secret-reads.ts), and `kms:Decrypt` through Secrets Manager on `secretsKmsKeys`;
 * - `token`, `refresh`, `consentCallback`: `kms:Sign` and `kms:GetPublicKey` on the
 *   profiles' keys, and the table calls they make; `refresh` also `Query` on the due index
 *   and `lambda:InvokeFunction` on itself (its shards);
 * - `health`: `kms:DescribeKey` on the profiles' keys; no table.
 * - `token`, `refresh`: `sts:GetWebIdentityToken` held to the profiles' audiences, longest
 *   lifetime and algorithms, when a profile uses web identity (web-identity-policy.ts).
 * - `token`, `refresh`, `consentCallback`: `events:PutEvents` on the stack's bus, and
 *   `DeleteItem` of the events' state items (`event#…`) in the table.
 */
export function rolePolicies(config: BrokerConfig, context: PolicyContext): Record<RoleFunction, Policy[]> {
  const { stage, service } = context;
  const policies = {} as Record<RoleFunction, Policy[]>;
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
    const secrets = secretArnsOf(config, fn, context);
    if (secrets.length > 0) {
      statements.push({
        Sid: 'ReadSecrets',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: secrets,
      });
      statements.push(...secretsDecryptStatements(context.secretsKmsKeys ?? []));
    }
    if (fn === 'token' || fn === 'refresh' || fn === 'consentCallback')
      statements.push(...kmsStatements(config, 'SignWithProfileKms', ['kms:Sign', 'kms:GetPublicKey']));
    if (fn === 'health') statements.push(...kmsStatements(config, 'DescribeProfileKms', ['kms:DescribeKey']));
    if (WEB_IDENTITY_FUNCTIONS.includes(fn)) statements.push(...webIdentityStatements(config));
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
    if (EVENT_FUNCTIONS.includes(fn))
      statements.push(EVENT_STATE_STATEMENT, putEventsStatement(context.eventBus));
    policies[fn] = [
      {
        PolicyName: `${fn}-least-privilege`,
        PolicyDocument: { Version: '2012-10-17', Statement: statements },
      },
    ];
  }
  return policies;
}
