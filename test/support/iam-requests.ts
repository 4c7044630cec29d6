/**
 * What IAM is asked for one AWS API request, as the service would ask it: the action from
 * the operation (`X-Amz-Target: secretsmanager.GetSecretValue` is
 * `secretsmanager:GetSecretValue`; Lambda's `POST /2015-03-31/functions/{name}/invocations`
 * is `lambda:InvokeFunction`) and the real resource ARN (a secret's full ARN with its
 * 6-character suffix however the request names it, a table or its index, a KMS key's ARN
 * with the `kms:ResourceAliases` of its aliases, a function).
 *
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
 */
import { defaultKeyPolicy, type IamPlace, type IamQuestion } from './iam-authority.ts';

/** The services the gateway stands in front of. */
export type IamService = 'secretsmanager' | 'dynamodb' | 'kms' | 'lambda' | 'sts' | 'events';

/** A secret as the service knows it. */
export interface SecretFacts {
  readonly arn: string;
  /** The customer-managed key it is encrypted with; undefined for `aws/secretsmanager`. */
  readonly kmsKeyId?: string | undefined;
}

/** A KMS key as the service knows it. */
export interface KeyFacts {
  readonly arn: string;
  /** `alias/name` of each alias of the key. */
  readonly aliases: readonly string[];
}

/** How the gateway finds what a request names (by name, ARN, alias, …). */
export interface ResourceLookups {
  secret?(secretId: string): SecretFacts | undefined;
  key?(keyId: string): KeyFacts | undefined;
}

/** The request's questions: all must be allowed; `decrypt` follows a readable secret with a CMK. */
export interface RequestQuestions {
  readonly operation: string;
  readonly questions: readonly IamQuestion[];
  readonly decrypt?: IamQuestion;
}

const SECRETS_MANAGER_KEY = 'alias/aws/secretsmanager';

/** A secret id (name, partial ARN or full ARN) against a known secret's ARN. */
export function namesSecret(secretId: string, arn: string): boolean {
  const partial = arn.slice(0, -7);
  const name = partial.slice(partial.indexOf(':secret:') + ':secret:'.length);
  return secretId === arn || secretId === partial || secretId === name;
}

/** A directory of secrets by ARN, for a backend that does not answer lookups itself (moto). */
export function secretDirectory(): {
  register(facts: SecretFacts): void;
  lookup(secretId: string): SecretFacts | undefined;
} {
  const known: SecretFacts[] = [];
  return {
    register: (facts) => void known.push(facts),
    lookup: (secretId) => known.find((s) => namesSecret(secretId, s.arn)),
  };
}

function keyFacts(keyId: string, place: IamPlace, lookups: ResourceLookups): KeyFacts {
  const known = lookups.key?.(keyId);
  if (known !== undefined) return known;
  const prefix = `arn:${place.partition}:kms:${place.region}:${place.account}:`;
  if (keyId.startsWith('arn:')) return { arn: keyId, aliases: [] };
  return { arn: `${prefix}${keyId.startsWith('alias/') ? keyId : `key/${keyId}`}`, aliases: [] };
}

function secretsManager(
  operation: string,
  body: Record<string, unknown>,
  place: IamPlace,
  lookups: ResourceLookups,
) {
  const id = String(body['SecretId'] ?? '*');
  const secret = lookups.secret?.(id);
  const resource =
    secret?.arn ??
    (id.startsWith('arn:') || id === '*'
      ? id
      : `arn:${place.partition}:secretsmanager:${place.region}:${place.account}:secret:${id}`);
  const question: IamQuestion = { action: `secretsmanager:${operation}`, resource };
  if (
    operation !== 'GetSecretValue' ||
    secret?.kmsKeyId === undefined ||
    secret.kmsKeyId === SECRETS_MANAGER_KEY
  )
    return { questions: [question] };
  const key = keyFacts(secret.kmsKeyId, place, lookups);
  return {
    questions: [question],
    decrypt: {
      action: 'kms:Decrypt',
      resource: key.arn,
      context: {
        'kms:ViaService': `secretsmanager.${place.region}.amazonaws.com`,
        'kms:CallerAccount': place.account,
        'kms:EncryptionContext:SecretARN': secret.arn,
        ...(key.aliases.length > 0 ? { 'kms:ResourceAliases': key.aliases } : {}),
      },
      resourcePolicy: defaultKeyPolicy(place),
    },
  };
}

/**
 * `dynamodb:LeadingKeys` of a single-item request: the partition key value of its `Key`
 * (a hash-only key), or of its `Item`'s `pk` (the cache table's hash key).
 */
function leadingKey(body: Record<string, unknown>): string | undefined {
  const key = body['Key'] as Record<string, { S?: string }> | undefined;
  if (key !== undefined) {
    const values = Object.values(key);
    return values.length === 1 ? values[0]?.S : undefined;
  }
  return (body['Item'] as Record<string, { S?: string }> | undefined)?.['pk']?.S;
}

function dynamoDb(operation: string, body: Record<string, unknown>, place: IamPlace) {
  const table = (name: string) =>
    `arn:${place.partition}:dynamodb:${place.region}:${place.account}:table/${name}`;
  const action = `dynamodb:${operation}`;
  if (typeof body['TableName'] === 'string') {
    const index = typeof body['IndexName'] === 'string' ? `/index/${body['IndexName']}` : '';
    const leading = leadingKey(body);
    return {
      questions: [
        {
          action,
          resource: `${table(body['TableName'])}${index}`,
          ...(leading === undefined ? {} : { context: { 'dynamodb:LeadingKeys': [leading] } }),
        },
      ],
    };
  }
  if (typeof body['RequestItems'] === 'object' && body['RequestItems'] !== null)
    return {
      questions: Object.keys(body['RequestItems']).map((name) => ({ action, resource: table(name) })),
    };
  if (operation.startsWith('Transact'))
    throw new TypeError(`dynamodb:${operation} is not mapped by the IAM gateway (one action per item)`);
  return { questions: [{ action, resource: '*' }] };
}

function kms(operation: string, body: Record<string, unknown>, place: IamPlace, lookups: ResourceLookups) {
  if (typeof body['KeyId'] !== 'string')
    return { questions: [{ action: `kms:${operation}`, resource: '*' }] };
  const key = keyFacts(body['KeyId'], place, lookups);
  return {
    questions: [
      {
        action: `kms:${operation}`,
        resource: key.arn,
        context: {
          'kms:CallerAccount': place.account,
          ...(key.aliases.length > 0 ? { 'kms:ResourceAliases': key.aliases } : {}),
        },
        resourcePolicy: defaultKeyPolicy(place),
      },
    ],
  };
}

const INVOKE = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

function lambda(method: string, path: string, place: IamPlace) {
  const match = INVOKE.exec(path);
  if (method !== 'POST' || match === null)
    throw new TypeError(`${method} ${path} is not mapped by the IAM gateway (Invoke only)`);
  // FunctionName: a name, `name:qualifier`, a partial ARN `account:function:name` or a full ARN.
  const given = decodeURIComponent(match[1]!);
  const name = given.startsWith('arn:')
    ? given.split(':').slice(6).join(':')
    : /^\d{12}:function:/.test(given)
      ? given.split(':').slice(2).join(':')
      : given;
  const resource = `arn:${place.partition}:lambda:${place.region}:${place.account}:function:${name}`;
  return { operation: 'Invoke', questions: [{ action: 'lambda:InvokeFunction', resource }] };
}

/**
 * STS (query protocol: a form body naming the `Action`). `GetWebIdentityToken` has no
 * resource type (`*`); its request context is one `sts:IdentityTokenAudience` per
 * `Audience.member.N`, `sts:SigningAlgorithm`, `sts:DurationSeconds` only when the request
 * sets it, and `aws:RequestTag/<key>` / `aws:TagKeys` for its tags; a request with tags
 * also asks `sts:TagGetWebIdentityToken` with those two keys.
 *
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
 */
function sts(body: string) {
  const form = new URLSearchParams(body);
  const operation = form.get('Action') ?? '';
  if (operation !== 'GetWebIdentityToken')
    throw new TypeError(
      `sts:${operation || '(no Action)'} is not mapped by the IAM gateway (GetWebIdentityToken only)`,
    );
  const list = (name: string) => {
    const out: string[] = [];
    for (let n = 1; form.has(`${name}.${n}`); n++) out.push(form.get(`${name}.${n}`)!);
    return out;
  };
  const tagKeys: string[] = [];
  for (let n = 1; form.has(`Tags.member.${n}.Key`); n++) tagKeys.push(form.get(`Tags.member.${n}.Key`)!);
  const context: Record<string, string | readonly string[]> = {
    'sts:IdentityTokenAudience': list('Audience.member'),
    ...(form.has('SigningAlgorithm') ? { 'sts:SigningAlgorithm': form.get('SigningAlgorithm')! } : {}),
    ...(form.has('DurationSeconds') ? { 'sts:DurationSeconds': form.get('DurationSeconds')! } : {}),
    ...(tagKeys.length > 0 ? { 'aws:TagKeys': tagKeys } : {}),
  };
  tagKeys.forEach(
    (key, i) => (context[`aws:RequestTag/${key}`] = form.get(`Tags.member.${i + 1}.Value`) ?? ''),
  );
  const questions = [{ action: `sts:${operation}`, resource: '*', context }];
  // Tags on the JWT need their own permission besides the call's.
  if (tagKeys.length > 0) {
    const tags: Record<string, string | readonly string[]> = { 'aws:TagKeys': tagKeys };
    for (const key of tagKeys) tags[`aws:RequestTag/${key}`] = context[`aws:RequestTag/${key}`]!;
    questions.push({ action: 'sts:TagGetWebIdentityToken', resource: '*', context: tags });
  }
  return { operation, questions };
}

/**
 * EventBridge `PutEvents` (JSON 1.1): one question per entry, on the bus the entry names
 * (`EventBusName`, a name or an ARN; the default bus when absent), with the entry's
 * `events:source` and `events:detail-type` as request context.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html
 */
function events(operation: string, body: Record<string, unknown>, place: IamPlace) {
  if (operation !== 'PutEvents')
    throw new TypeError(`events:${operation} is not mapped by the IAM gateway (PutEvents only)`);
  const bus = (name: string) =>
    name.startsWith('arn:')
      ? name
      : `arn:${place.partition}:events:${place.region}:${place.account}:event-bus/${name}`;
  const entries = (Array.isArray(body['Entries']) ? body['Entries'] : []) as Record<string, unknown>[];
  return {
    questions: entries.map((entry) => ({
      action: 'events:PutEvents',
      resource: bus(typeof entry['EventBusName'] === 'string' ? entry['EventBusName'] : 'default'),
      context: {
        'events:source': [String(entry['Source'] ?? '')],
        'events:detail-type': [String(entry['DetailType'] ?? '')],
      },
    })),
  };
}

/** Target prefixes of the JSON protocols. */
const TARGETS: Readonly<Record<string, IamService>> = {
  secretsmanager: 'secretsmanager',
  DynamoDB_20120810: 'dynamodb',
  TrentService: 'kms',
  AWSEvents: 'events',
};

/**
 * The questions IAM is asked for a request to `service`.
 *
 * @throws TypeError for a request this mapping does not know (the gateway answers it as an error).
 */
export function requestQuestions(
  service: IamService,
  request: {
    readonly method: string;
    readonly path: string;
    readonly target?: string | undefined;
    readonly body: string;
  },
  place: IamPlace,
  lookups: ResourceLookups,
): RequestQuestions {
  if (service === 'lambda') return lambda(request.method, request.path, place);
  if (service === 'sts') return sts(request.body);
  const [prefix, operation] = (request.target ?? '').split('.') as [string, string | undefined];
  if (TARGETS[prefix] !== service || operation === undefined)
    throw new TypeError(`X-Amz-Target ${request.target ?? '(none)'} is not a ${service} operation`);
  const body = (request.body === '' ? {} : JSON.parse(request.body)) as Record<string, unknown>;
  const mapped =
    service === 'secretsmanager'
      ? secretsManager(operation, body, place, lookups)
      : service === 'dynamodb'
        ? dynamoDb(operation, body, place)
        : service === 'events'
          ? events(operation, body, place)
          : kms(operation, body, place, lookups);
  return { operation, ...mapped };
}
