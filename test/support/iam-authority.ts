/**
 * IAM for the artefact tests: which role an access key id belongs to, and whether that
 * role's identity policies allow an action on a resource, evaluated by
 * `@cloud-copilot/iam-simulate` (AGPL-3.0: imported from test/ only, never bundled). Every
 * decision is recorded, so a test can assert what was asked and what IAM answered.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { DeployedRole, PolicyDocument } from './iam-template.ts';

/** The account, region and partition the roles live in. */
export interface IamPlace {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** One authorization question: may the caller do `action` on `resource`? */
export interface IamQuestion {
  readonly action: string;
  readonly resource: string;
  /** Request context keys (`kms:ResourceAliases`, `kms:ViaService`, …). */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
  /** The resource's own policy (a KMS key policy), if it has one. */
  readonly resourcePolicy?: PolicyDocument;
}

/** What IAM answered, as recorded. */
export interface IamDecision {
  readonly accessKeyId: string;
  /** The function (as the test named it) whose role signed; undefined for an unknown key. */
  readonly function: string | undefined;
  readonly principal: string | undefined;
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string | readonly string[]>>;
  readonly allowed: boolean;
  /** `Allowed`, `ImplicitlyDenied`, `ExplicitlyDenied`, `UnknownAccessKey`, or `Invalid` (see `error`). */
  readonly result: string;
  /** Why the simulation could not run (an invalid policy, action or resource). */
  readonly error?: string;
}

/** A function's credentials and role. */
export interface IamPrincipal {
  readonly accessKeyId: string;
  readonly function: string;
  /** The role session name (Lambda uses the function's name). */
  readonly sessionName: string;
  readonly role: DeployedRole;
}

/** A statement of a role's policies, for {@link IamAuthority.dropStatements}. */
export type StatementFilter = (statement: Readonly<Record<string, unknown>>, function_: string) => boolean;

export interface IamAuthority {
  readonly place: IamPlace;
  /** Every decision so far, oldest first. */
  readonly decisions: readonly IamDecision[];
  /** Registers credentials of a function's role. */
  addPrincipal(principal: IamPrincipal): void;
  /** The caller `accessKeyId` stands for, or undefined. */
  principal(accessKeyId: string): IamPrincipal | undefined;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>` of a principal. */
  sessionArn(principal: IamPrincipal): string;
  /** Evaluates `question` for the caller and records the decision. */
  decide(accessKeyId: string, question: IamQuestion): Promise<IamDecision>;
  /**
   * Removes the statements `filter` picks from `function_`'s role (all of its principals),
   * as if the template lacked them; returns a function that puts them back.
   */
  dropStatements(function_: string, filter: StatementFilter): () => void;
}

/** The default key policy: the account delegates access to the key to IAM policies. */
export function defaultKeyPolicy(place: IamPlace): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:${place.partition}:iam::${place.account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

/** Statements of `document` as an array (IAM allows a single statement object). */
const statementsOf = (document: PolicyDocument): readonly Record<string, unknown>[] => {
  const statement: unknown = document.Statement;
  return (Array.isArray(statement) ? statement : [statement]) as Record<string, unknown>[];
};

/** An authority for `place` with no principals yet. */
export function createIamAuthority(place: IamPlace): IamAuthority {
  const principals = new Map<string, IamPrincipal>();
  const dropped = new Map<string, StatementFilter[]>();
  const decisions: IamDecision[] = [];
  const sessionArn = (p: IamPrincipal) =>
    `arn:${place.partition}:sts::${place.account}:assumed-role/${p.role.roleName}/${p.sessionName}`;

  const identityPolicies = (p: IamPrincipal) =>
    p.role.policies.map((policy) => ({
      name: policy.name,
      policy: {
        ...policy.document,
        Statement: statementsOf(policy.document).filter(
          (s) => !(dropped.get(p.function) ?? []).some((f) => f(s, p.function)),
        ),
      },
    }));

  async function decide(accessKeyId: string, question: IamQuestion): Promise<IamDecision> {
    const p = principals.get(accessKeyId);
    const base = {
      accessKeyId,
      function: p?.function,
      principal: p === undefined ? undefined : sessionArn(p),
      action: question.action,
      resource: question.resource,
      context: question.context ?? {},
    };
    let decision: IamDecision;
    if (p === undefined) {
      decision = { ...base, allowed: false, result: 'UnknownAccessKey' };
    } else {
      const result = await runSimulation(
        {
          request: {
            principal: sessionArn(p),
            action: question.action,
            resource: { resource: question.resource, accountId: place.account },
            contextVariables: {
              'aws:PrincipalArn': p.role.roleArn,
              'aws:PrincipalAccount': place.account,
              'aws:RequestedRegion': place.region,
              ...(question.context as Record<string, string | string[]>),
            },
          },
          identityPolicies: identityPolicies(p),
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          ...(question.resourcePolicy === undefined ? {} : { resourcePolicy: question.resourcePolicy }),
        },
        {},
      );
      decision =
        result.resultType === 'error'
          ? { ...base, allowed: false, result: 'Invalid', error: JSON.stringify(result.errors) }
          : { ...base, allowed: result.overallResult === 'Allowed', result: result.overallResult };
    }
    decisions.push(decision);
    return decision;
  }

  return {
    place,
    decisions,
    addPrincipal: (p) => void principals.set(p.accessKeyId, p),
    principal: (accessKeyId) => principals.get(accessKeyId),
    sessionArn,
    decide,
    dropStatements(function_, filter) {
      const filters = dropped.get(function_) ?? [];
      dropped.set(function_, [...filters, filter]);
      return () => {
        const now = dropped.get(function_) ?? [];
        dropped.set(
          function_,
          now.filter((f) => f !== filter),
        );
      };
    },
  };
}

/** Whether a statement's Action names `action` (exactly, as the template writes actions). */
export function grants(statement: Readonly<Record<string, unknown>>, action: string): boolean {
  const actions = statement['Action'];
  return (Array.isArray(actions) ? actions : [actions]).includes(action);
}
