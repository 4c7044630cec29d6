/**
 * Per-profile routing of the broker's events (docs/operations.md): a profile's `notify`
 * becomes an EventBridge rule on the stack's bus that matches that profile's events and
 * targets an SNS topic: the team's own (`notify.topicArn`), or one the stack creates with
 * an email subscription per address (`notify.email`). serverless.yml merges the resources
 * in (serverless/profiles.cjs `notify`).
 *
 * A topic the stack does not own keeps its own policy: its owner adds the one statement
 * {@link topicPolicyStatement} gives (`check --deployed` prints it), which lets EventBridge
 * publish for that rule only (`aws:SourceArn`).
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
 * @see https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-events-rule.html
 */
import { createHash } from 'node:crypto';
import type { BrokerConfig } from '../config/types.ts';
import { EVENT_SOURCE } from '../events/schema.ts';

/** The bus the functions put events on when the stack names none (param `eventBus`). */
export const DEFAULT_EVENT_BUS = 'default';

/** EventBridge rule names: at most 64 characters (letters, digits, `.`, `_`, `-`). */
const RULE_NAME_MAX = 64;

/** An SNS topic ARN: `arn:<partition>:sns:<region>:<account>:<name>`. */
const TOPIC_ARN = /^arn:(aws[a-z-]*):sns:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_-]{1,256})$/;

/** Where the stack lives, for names and ARNs. */
export interface NotifyContext {
  readonly service: string;
  readonly stage: string;
  /** The bus name or ARN (param `eventBus`); default {@link DEFAULT_EVENT_BUS}. */
  readonly eventBus?: string | undefined;
}

/** A profile's routing, as read from its `notify` key. */
export interface NotifyRouting {
  readonly profile: string;
  readonly topicArn: string | undefined;
  readonly emails: readonly string[];
}

/** The profiles that route their events somewhere, in file order. */
export function notifyRoutings(config: BrokerConfig): NotifyRouting[] {
  const out: NotifyRouting[] = [];
  for (const profile of Object.values(config.profiles)) {
    const { topicArn, email = [] } = profile.notify ?? {};
    if (topicArn === undefined && email.length === 0) continue;
    out.push({ profile: profile.name, topicArn, emails: email });
  }
  return out;
}

/** The parts of an SNS topic ARN, or undefined for anything else. */
export function parseTopicArn(
  arn: string,
): { partition: string; region: string; account: string; name: string } | undefined {
  const match = TOPIC_ARN.exec(arn);
  if (match === null) return undefined;
  return { partition: match[1]!, region: match[2]!, account: match[3]!, name: match[4]! };
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 8);

/**
 * The stem of a profile's CloudFormation logical ids: `Notify`, the name's letters and
 * digits in PascalCase, and 8 hex of its SHA-256, so `billing.docusign` and
 * `billing-docusign` (both `BillingDocusign`) never share an id. Stable for a name.
 */
export function notifyLogicalId(profile: string): string {
  const words = profile.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  const pascal = words.map((w) => `${w[0]!.toUpperCase()}${w.slice(1)}`).join('');
  return `Notify${pascal}${digest(profile)}`;
}

/**
 * The rule's name: `<service>-<stage>-<profile>`, or, past EventBridge's 64 characters,
 * its first 55 and 8 hex of the whole. Known before deploying, so a topic's owner can
 * write the rule's ARN into the topic's policy.
 */
export function notifyRuleName(profile: string, context: NotifyContext): string {
  // Profile names and stages are already of the allowed characters.
  const full = `${context.service}-${context.stage}-${profile}`;
  if (full.length <= RULE_NAME_MAX) return full;
  return `${full.slice(0, RULE_NAME_MAX - 9)}-${digest(full)}`;
}

/** The bus's name, whether the param gives a name or an ARN. */
export function busName(eventBus: string): string {
  return eventBus.startsWith('arn:') ? eventBus.slice(eventBus.indexOf(':event-bus/') + 11) : eventBus;
}

/**
 * The bus's ARN as an IAM resource: an ARN as given, a name in the stack's account and
 * region.
 */
export function busArn(eventBus: string = DEFAULT_EVENT_BUS): unknown {
  if (eventBus.startsWith('arn:')) return eventBus;
  return {
    'Fn::Sub': `arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${eventBus}`,
  };
}

/** The EventBridge pattern of one profile's events. */
export function profilePattern(profile: string): Record<string, unknown> {
  return { source: [EVENT_SOURCE], detail: { profile: [profile] } };
}

/**
 * The ARN the rule of `routing` will have: the topic's partition, region and account (an
 * SNS target lives in the rule's region), the bus's name for a bus other than the default.
 */
export function notifyRuleArn(routing: NotifyRouting, context: NotifyContext): string | undefined {
  const topic = routing.topicArn === undefined ? undefined : parseTopicArn(routing.topicArn);
  if (topic === undefined) return undefined;
  const bus = busName(context.eventBus ?? DEFAULT_EVENT_BUS);
  const path = bus === DEFAULT_EVENT_BUS ? '' : `${bus}/`;
  return `arn:${topic.partition}:events:${topic.region}:${topic.account}:rule/${path}${notifyRuleName(routing.profile, context)}`;
}

/**
 * The one statement the owner of `notify.topicArn` adds to the topic's policy: EventBridge
 * may publish to it for this profile's rule only.
 */
export function topicPolicyStatement(
  routing: NotifyRouting,
  context: NotifyContext,
): Record<string, unknown> {
  return {
    Sid: `TokenBrokerEvents${notifyLogicalId(routing.profile).slice('Notify'.length)}`,
    Effect: 'Allow',
    Principal: { Service: 'events.amazonaws.com' },
    Action: 'sns:Publish',
    Resource: routing.topicArn,
    Condition: { ArnEquals: { 'aws:SourceArn': notifyRuleArn(routing, context) } },
  };
}

/** A CloudFormation resource. */
export interface TemplateResource {
  readonly Type: string;
  readonly Properties: Readonly<Record<string, unknown>>;
}

/** The resources of one profile's routing, by logical id. */
function routingResources(routing: NotifyRouting, context: NotifyContext): Record<string, TemplateResource> {
  const id = notifyLogicalId(routing.profile);
  const out: Record<string, TemplateResource> = {};
  const targets: Record<string, unknown>[] = [];
  if (routing.topicArn !== undefined) targets.push({ Id: 'topic', Arn: routing.topicArn });
  if (routing.emails.length > 0) {
    const topic = { Ref: `${id}Topic` };
    out[`${id}Topic`] = {
      Type: 'AWS::SNS::Topic',
      Properties: { DisplayName: `token-broker ${context.stage} ${routing.profile}`.slice(0, 100) },
    };
    routing.emails.forEach((email, i) => {
      out[`${id}Email${i}`] = {
        Type: 'AWS::SNS::Subscription',
        Properties: { TopicArn: topic, Protocol: 'email', Endpoint: email },
      };
    });
    out[`${id}TopicPolicy`] = {
      Type: 'AWS::SNS::TopicPolicy',
      Properties: {
        Topics: [topic],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'ProfileEventsRule',
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: topic,
              Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [`${id}Rule`, 'Arn'] } } },
            },
          ],
        },
      },
    };
    targets.push({ Id: 'email', Arn: topic });
  }
  out[`${id}Rule`] = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Name: notifyRuleName(routing.profile, context),
      Description: `token-broker events of profile ${routing.profile}`.slice(0, 512),
      EventBusName: context.eventBus ?? DEFAULT_EVENT_BUS,
      EventPattern: profilePattern(routing.profile),
      State: 'ENABLED',
      Targets: targets,
    },
  };
  return out;
}

/**
 * The CloudFormation resources routing the profiles' events (`{ Resources }`, merged into
 * serverless.yml's `resources`): per routed profile a rule, and with `notify.email` the
 * topic, its subscriptions and its policy.
 */
export function notifyResources(
  config: BrokerConfig,
  context: NotifyContext,
): { Resources: Record<string, TemplateResource> } {
  const resources: Record<string, TemplateResource> = {};
  for (const routing of notifyRoutings(config)) Object.assign(resources, routingResources(routing, context));
  return { Resources: resources };
}
