/**
 * The profiles file as the deployed functions will see it: checked when packaging
 * (serverless/profile-facts.ts) and by `token-broker check --deployed`. A file that works on
 * a laptop (`file:` paths on that laptop, `env:` variables of that shell, a consent
 * profile with a per-process state key) can only fail in Lambda; each such problem is one
 * line naming the profile, the key and the fix.
 */
import { statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { BrokerConfig, Profile } from '../config/types.ts';
import { describeReference, parseReference } from '../secrets/reference.ts';
import { CALLBACK_PATH } from '../config/callback-path.ts';
import { allSecretUses, type StackSecrets } from './secret-reads.ts';
import {
  busName,
  DEFAULT_EVENT_BUS,
  notifyRoutings,
  parseTopicArn,
  topicPolicyStatement,
  type NotifyContext,
} from './notify.ts';

/** Environment variables serverless.yml sets on every function (none holds a secret). */
export const TEMPLATE_ENVIRONMENT: readonly string[] = [
  'TOKEN_BROKER_CONFIG',
  'NODE_OPTIONS',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
];

/** What the deployment looks like beside the profiles file. */
export interface DeploymentContext extends StackSecrets {
  /** The profiles path as given to osls (`--param="profiles=…"`), relative to the service folder. */
  readonly profilesPath: string;
  /** The folder of serverless.yml: everything packaged lies inside it. */
  readonly serviceDir: string;
  /** Variables the template sets (default {@link TEMPLATE_ENVIRONMENT}). */
  readonly environment?: readonly string[];
  /** The API's custom domain (param `domainName`), when one is set. */
  readonly domainName?: string | undefined;
  /** The stage (`--stage`), for the names of the notify rules; `<stage>` when unknown. */
  readonly stage?: string | undefined;
  /** The bus events go on (param `eventBus`), a name or an ARN; default `default`. */
  readonly eventBus?: string | undefined;
}

/**
 * The statement the owner of a profile's `notify.topicArn` adds to the topic's policy
 * (the stack cannot change the policy of a topic it does not own).
 */
export interface TopicGrant {
  readonly profile: string;
  readonly topicArn: string;
  readonly statement: Readonly<Record<string, unknown>>;
}

/** One problem: where it is and what to do, as one line. */
export interface DeploymentProblem {
  /** `profile docusign: certPassword`, `consent.stateKey`, `profiles file`. */
  readonly where: string;
  readonly message: string;
}

/** `profile docusign: certPassword: env:X is not set in the deployed functions; …` */
export function formatProblem(problem: DeploymentProblem): string {
  return `${problem.where}: ${problem.message}`;
}

/** Folders whose content is never packaged as a profile's file. */
const NOT_PACKAGED = ['node_modules', '.esbuild', '.serverless', '.git'];

/** The packaged path of a relative `file:` target, or why it cannot be packaged. */
function packagedPath(
  path: string,
  context: DeploymentContext,
): { readonly path: string } | { readonly problem: string } {
  const fix =
    'put the value in Secrets Manager and write secretsmanager:<name>, or keep the file inside the project and give its path relative to the profiles file';
  if (isAbsolute(path)) return { problem: `${path} is a path on this machine, not in the package; ${fix}` };
  const absolute = resolve(dirname(resolve(context.serviceDir, context.profilesPath)), path);
  const inside = relative(resolve(context.serviceDir), absolute);
  if (
    inside === '' ||
    inside.startsWith('..') ||
    isAbsolute(inside) ||
    NOT_PACKAGED.includes(inside.split(sep)[0]!)
  )
    return { problem: `${path} lies outside what is packaged; ${fix}` };
  if (!statSync(absolute, { throwIfNoEntry: false })?.isFile())
    return { problem: `${path} does not exist (looked for ${inside}); ${fix}` };
  return { path: inside.split(sep).join('/') };
}

/** Problems with one secret reference as the deployed functions resolve it. */
function referenceProblem(
  reference: string,
  context: DeploymentContext,
  files: Set<string>,
): string | undefined {
  let parsed;
  try {
    parsed = parseReference(reference);
  } catch {
    return `${describeReference(reference)} is not a secret reference; write secretsmanager:<name-or-arn>`;
  }
  switch (parsed.scheme) {
    case 'secretsmanager':
      return undefined;
    case 'plain':
      return 'the value is written inline and would be packaged in every zip; put it in Secrets Manager and write secretsmanager:<name>';
    case 'env':
      return (context.environment ?? TEMPLATE_ENVIRONMENT).includes(parsed.name)
        ? undefined
        : `env:${parsed.name} is not set in the deployed functions; put the value in Secrets Manager and write secretsmanager:<name>`;
    case 'file': {
      const packaged = packagedPath(parsed.path, context);
      if ('problem' in packaged) return `file:${packaged.problem}`;
      files.add(packaged.path);
      return undefined;
    }
  }
}

/** A consent profile (as `check` defines it) needs its consent page, its callback and the state key. */
function consentProblems(
  profile: Profile,
  config: BrokerConfig,
  context: DeploymentContext,
): DeploymentProblem[] {
  const wantsConsent =
    profile.redirectUri !== undefined || (profile.grant === 'jwt-bearer' && profile.authUri !== undefined);
  if (!wantsConsent) return [];
  const where = (key: string) => `profile ${profile.name}: ${key}`;
  const callback = `https://${context.domainName ?? '<api host>'}:443${CALLBACK_PATH}`;
  const out: DeploymentProblem[] = [];
  if (config.consent.stateKey === undefined)
    out.push({
      where: 'consent.stateKey',
      message:
        'not set, and a profile asks for consent; store 32 random bytes (openssl rand -base64 32) in Secrets Manager and name them in consent.stateKey',
    });
  if (profile.authUri === undefined)
    out.push({ where: where('authUri'), message: "not set; set it to the provider's consent page" });
  if (profile.redirectUri === undefined) {
    out.push({
      where: where('redirectUri'),
      message: `not set; set it to ${callback} (the stack output ConsentCallbackUrl) and register it with the provider`,
    });
  } else {
    const url = new URL(profile.redirectUri);
    if (url.protocol !== 'https:')
      out.push({
        where: where('redirectUri'),
        message: `${url.origin}${url.pathname} is not https, so it cannot be the deployed callback; set it to ${callback}`,
      });
    else if (context.domainName !== undefined && url.hostname !== context.domainName.toLowerCase())
      out.push({
        where: where('redirectUri'),
        message: `${url.host} is not the stack's domain ${context.domainName}; set it to ${callback}`,
      });
  }
  return out;
}

/** The result of {@link checkDeployment}. */
export interface DeploymentCheck {
  readonly problems: readonly DeploymentProblem[];
  /** Files `file:` references name, relative to the service folder: packaged with the profiles file. */
  readonly files: readonly string[];
  /** Per profile routing to a topic it names: the statement the topic's owner adds. */
  readonly topicGrants: readonly TopicGrant[];
}

/** `notify`: a topic ARN EventBridge can publish to from the stack's bus; the owner's statement. */
function notifyChecks(
  config: BrokerConfig,
  context: DeploymentContext,
): { problems: DeploymentProblem[]; grants: TopicGrant[] } {
  const problems: DeploymentProblem[] = [];
  const grants: TopicGrant[] = [];
  const eventBus = context.eventBus || DEFAULT_EVENT_BUS;
  const notify: NotifyContext = { service: 'token-broker', stage: context.stage ?? '<stage>', eventBus };
  // A bus given as an ARN says the stack's region; a rule sends to SNS topics in its own.
  const busRegion = eventBus.startsWith('arn:') ? eventBus.split(':')[3] : undefined;
  for (const routing of notifyRoutings(config)) {
    if (routing.topicArn === undefined) continue;
    const where = `profile ${routing.profile}: notify.topicArn`;
    const topic = parseTopicArn(routing.topicArn);
    if (topic === undefined)
      problems.push({
        where,
        message: `${routing.topicArn} is not an SNS topic ARN; write arn:aws:sns:<region>:<account>:<topic name>`,
      });
    else if (busRegion !== undefined && topic.region !== busRegion)
      problems.push({
        where,
        message: `the topic is in ${topic.region}, the bus ${busName(eventBus)} in ${busRegion}; EventBridge sends to a topic in the rule's region, so name one in ${busRegion}`,
      });
    else
      grants.push({
        profile: routing.profile,
        topicArn: routing.topicArn,
        statement: topicPolicyStatement(routing, notify),
      });
  }
  return { problems, grants };
}

/**
 * Checks a loaded profiles file as the packaged functions will see it:
 * - the profiles path is relative and inside the service folder (it is bundled and found
 *   relative to the bundle);
 * - every secret the functions read is `secretsmanager:` (a name or ARN anywhere) or a
 *   `kms:` key; `file:` only for a relative path inside the project (then it is packaged);
 *   `env:` only for variables the template sets; never `plain:`;
 * - consent profiles have `consent.stateKey`, `authUri` and an https `redirectUri` (on the
 *   custom domain when one is set);
 * - `callers` is not empty; `cache.endpoint` (a local DynamoDB) is not set;
 * - `notify.topicArn` is an SNS topic ARN (in the bus's region when the bus is an ARN);
 *   its owner's policy statement is returned in `topicGrants`.
 */
export function checkDeployment(config: BrokerConfig, context: DeploymentContext): DeploymentCheck {
  const problems: DeploymentProblem[] = [];
  const files = new Set<string>();
  const path = context.profilesPath;
  if (isAbsolute(path) || relative(context.serviceDir, resolve(context.serviceDir, path)).startsWith('..'))
    problems.push({
      where: 'profiles file',
      message: `${path} is not inside the project, so it cannot be packaged; copy it beside serverless.yml and pass --param="profiles=<path relative to serverless.yml>"`,
    });
  for (const use of allSecretUses(config, context)) {
    const problem = referenceProblem(use.reference, context, files);
    if (problem !== undefined) problems.push({ where: use.where, message: problem });
  }
  if (config.cache.endpoint !== undefined)
    problems.push({
      where: 'cache.endpoint',
      message: `${config.cache.endpoint} is a local DynamoDB; remove it, the deployed functions use the stack's table`,
    });
  for (const profile of Object.values(config.profiles)) {
    if (profile.callers.length === 0)
      problems.push({
        where: `profile ${profile.name}: callers`,
        message:
          'empty, so no caller may use it; list the IAM roles allowed, e.g. arn:aws:iam::<account>:role/<name>',
      });
    problems.push(...consentProblems(profile, config, context));
  }
  const notify = notifyChecks(config, context);
  problems.push(...notify.problems);
  // One line per problem, however many functions or keys share it.
  const seen = new Set<string>();
  const unique = problems.filter((p) => {
    const line = formatProblem(p);
    if (seen.has(line)) return false;
    seen.add(line);
    return true;
  });
  return { problems: unique, files: [...files].sort(), topicGrants: notify.grants };
}
