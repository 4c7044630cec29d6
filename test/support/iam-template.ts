/**
 * The identity policies of each function's role, read from a packaged CloudFormation
 * template as IAM holds them once the stack is deployed: the function resource's
 * `Role: {Fn::GetAtt: [XRole, Arn]}` names the role, the role's inline `Policies` are
 * its policy documents, and the intrinsic functions in them (`Fn::Sub`, `Fn::GetAtt`,
 * `Fn::Join`, `Ref`) are resolved for one account, region and stack, with the values
 * the test's own resources have (the table it created).
 *
 * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html
 */
import type { Resource } from './osls-package.ts';

/** Where the stack is deployed, and what its resources resolve to. */
export interface StackFacts {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  /** `AWS::StackName`, and the prefix of generated role names. */
  readonly stackName: string;
  /** `Ref` of a resource, by logical id (a table's Ref is its name). */
  readonly refs: Readonly<Record<string, string>>;
  /** `Fn::GetAtt` of a resource, as `LogicalId.Attribute` (e.g. `CacheTable.Arn`). */
  readonly attributes: Readonly<Record<string, string>>;
}

/** An IAM policy document with every intrinsic resolved. */
export interface PolicyDocument {
  readonly Version: string;
  readonly Statement: readonly Record<string, unknown>[];
}

/** One function's role as deployed. */
export interface DeployedRole {
  readonly roleLogicalId: string;
  /** `RoleName`, else CloudFormation's generated `<stack>-<LogicalId>` (without its random tail). */
  readonly roleName: string;
  readonly roleArn: string;
  readonly policies: readonly { readonly name: string; readonly document: PolicyDocument }[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function pseudo(name: string, facts: StackFacts): string | undefined {
  switch (name) {
    case 'AWS::Partition':
      return facts.partition;
    case 'AWS::Region':
      return facts.region;
    case 'AWS::AccountId':
      return facts.account;
    case 'AWS::StackName':
      return facts.stackName;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    default:
      return undefined;
  }
}

function ref(name: string, facts: StackFacts): string {
  const value = pseudo(name, facts) ?? facts.refs[name];
  if (value === undefined) throw new TypeError(`Ref ${name}: no value for it in this stack`);
  return value;
}

function getAtt(logicalId: string, attribute: string, facts: StackFacts): string {
  const value = facts.attributes[`${logicalId}.${attribute}`];
  if (value === undefined)
    throw new TypeError(`Fn::GetAtt ${logicalId}.${attribute}: no value for it in this stack`);
  return value;
}

function sub(template: string, variables: Record<string, unknown>, facts: StackFacts): string {
  return template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in variables) return String(resolveIntrinsics(variables[name], facts));
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) return getAtt(name.slice(0, dot), name.slice(dot + 1), facts);
    return ref(name, facts);
  });
}

/**
 * `value` with every `Fn::Sub`, `Fn::GetAtt`, `Fn::Join` and `Ref` replaced by its value.
 *
 * @throws TypeError on another intrinsic, or a name the stack has no value for.
 */
export function resolveIntrinsics(value: unknown, facts: StackFacts): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, facts));
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'))) {
    const [key] = keys as [string];
    const arg = value[key];
    switch (key) {
      case 'Ref':
        return ref(String(arg), facts);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(/\.(.*)/);
        return getAtt(String(id), String(attribute), facts);
      }
      case 'Fn::Sub':
        return Array.isArray(arg)
          ? sub(String(arg[0]), (arg[1] ?? {}) as Record<string, unknown>, facts)
          : sub(String(arg), {}, facts);
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolveIntrinsics(parts, facts) as unknown[]).map(String).join(separator);
      }
      default:
        throw new TypeError(`${key} is not resolved by this test support`);
    }
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIntrinsics(v, facts)]));
}

/**
 * The deployed role of the function resource `functionLogicalId` (e.g. `TokenLambdaFunction`).
 *
 * @throws TypeError when the function or its role is missing, the role is not one of the
 *   template's own, or it has managed policies (their documents are not in the template).
 */
export function deployedRole(
  resources: Readonly<Record<string, Resource>>,
  functionLogicalId: string,
  facts: StackFacts,
): DeployedRole {
  const fn = resources[functionLogicalId];
  if (fn === undefined) throw new TypeError(`no resource ${functionLogicalId} in the template`);
  const role: unknown = fn.Properties['Role'];
  const roleLogicalId =
    isRecord(role) && Array.isArray(role['Fn::GetAtt']) && role['Fn::GetAtt'][1] === 'Arn'
      ? String(role['Fn::GetAtt'][0])
      : undefined;
  const resource = roleLogicalId === undefined ? undefined : resources[roleLogicalId];
  if (roleLogicalId === undefined || resource?.Type !== 'AWS::IAM::Role')
    throw new TypeError(`${functionLogicalId}: Role is not {Fn::GetAtt: [<a role of this template>, Arn]}`);
  const p = resource.Properties;
  if (p['ManagedPolicyArns'] !== undefined)
    throw new TypeError(`${roleLogicalId}: managed policies are not evaluated by this test support`);
  const roleName =
    p['RoleName'] === undefined
      ? `${facts.stackName}-${roleLogicalId}`
      : String(resolveIntrinsics(p['RoleName'], facts));
  const policies = ((p['Policies'] ?? []) as { PolicyName: unknown; PolicyDocument: unknown }[]).map(
    (policy) => ({
      name: String(resolveIntrinsics(policy.PolicyName, facts)),
      document: resolveIntrinsics(policy.PolicyDocument, facts) as PolicyDocument,
    }),
  );
  return {
    roleLogicalId,
    roleName,
    roleArn: `arn:${facts.partition}:iam::${facts.account}:role/${roleName}`,
    policies,
  };
}
