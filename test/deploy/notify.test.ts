/**
 * Per-profile routing of events (lib/deploy/notify.ts) and its deployment checks
 * (lib/deploy/deployable.ts), without packaging: ids, rule names and ARNs, the statement a
 * topic's owner adds, and the problems `check --deployed` reports.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { checkDeployment, formatProblem } from '../../lib/deploy/deployable.ts';
import {
  busArn,
  notifyLogicalId,
  notifyResources,
  notifyRuleArn,
  notifyRuleName,
  topicPolicyStatement,
} from '../../lib/deploy/notify.ts';
import { putEventsStatement, rolePolicies } from '../../lib/deploy/policies.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:billing-alerts';
const profile = (name: string, notify: string) => `
  ${name}:
    provider: generic
    issuer: ${name}-client
    subject: jsmith@example.com
    tokenUri: POST https://login.example.com/oauth/token
    certStore: secretsmanager:k
    callers: ['arn:aws:iam::123456789012:role/billing-*']
${notify === '' ? '' : `    notify: ${notify}\n`}`;

const load = (yaml: string) => parseConfig(yaml, '/srv/token-broker/token-broker.yaml');
const check = (config: BrokerConfig, extra: { stage?: string; eventBus?: string } = {}) =>
  checkDeployment(config, {
    profilesPath: 'token-broker.yaml',
    serviceDir: '/srv/token-broker',
    cacheSealKey: 'secretsmanager:token-broker/prod/cache-key',
    ...extra,
  });

describe('notify routing', () => {
  it('derives letters-and-digits logical ids that stay apart for names differing in punctuation', () => {
    const ids = ['billing.docusign', 'billing-docusign', 'billing_docusign', 'billingdocusign'].map(
      notifyLogicalId,
    );
    for (const id of ids) expect(id).toMatch(/^NotifyBilling[Dd]ocusign[0-9a-f]{8}$/);
    expect(new Set(ids).size).toBe(4);
    expect(notifyLogicalId('billing.docusign')).toBe(notifyLogicalId('billing.docusign'));
  });

  it('names the rule <service>-<stage>-<profile>, shortened with a digest past 64 characters', () => {
    const context = { service: 'token-broker', stage: 'prod' };
    expect(notifyRuleName('billing.docusign', context)).toBe('token-broker-prod-billing.docusign');
    const long = `team-${'x'.repeat(58)}`;
    const a = notifyRuleName(long, context);
    const b = notifyRuleName(`${long.slice(0, -1)}y`, context);
    expect(a).toHaveLength(64);
    expect(a).toMatch(/^token-broker-prod-team-x+-[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
  });

  it("gives the rule's ARN in the topic's region and account, with the bus for a bus other than the default", () => {
    const routing = { profile: 'billing', topicArn: TOPIC, emails: [] };
    const context = { service: 'token-broker', stage: 'prod' };
    expect(notifyRuleArn(routing, context)).toBe(
      'arn:aws:events:eu-west-1:123456789012:rule/token-broker-prod-billing',
    );
    expect(
      notifyRuleArn(routing, {
        ...context,
        eventBus: 'arn:aws:events:eu-west-1:123456789012:event-bus/team-events',
      }),
    ).toBe('arn:aws:events:eu-west-1:123456789012:rule/team-events/token-broker-prod-billing');
    expect(topicPolicyStatement(routing, context)).toEqual({
      Sid: `TokenBrokerEvents${notifyLogicalId('billing').slice('Notify'.length)}`,
      Effect: 'Allow',
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: TOPIC,
      Condition: {
        ArnEquals: {
          'aws:SourceArn': 'arn:aws:events:eu-west-1:123456789012:rule/token-broker-prod-billing',
        },
      },
    });
  });

  it('grants PutEvents on a bus name in the stack account, on a bus ARN as given', () => {
    expect(putEventsStatement(undefined).Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' },
    ]);
    expect(busArn('team-events')).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/team-events',
    });
    const arn = 'arn:aws:events:eu-west-1:123456789012:event-bus/team-events';
    const policies = rolePolicies(load(`profiles:${profile('p', '')}`), {
      stage: 'prod',
      service: 'token-broker',
      eventBus: arn,
    });
    const putters = Object.entries(policies)
      .filter(([, [policy]]) =>
        policy!.PolicyDocument.Statement.some((s) => s.Action.includes('events:PutEvents')),
      )
      .map(([fn]) => fn)
      .sort();
    expect(putters).toEqual(['consentCallback', 'refresh', 'token']);
    expect(policies.token[0]!.PolicyDocument.Statement.at(-1)).toEqual({
      Sid: 'PutProfileEvents',
      Effect: 'Allow',
      Action: ['events:PutEvents'],
      Resource: [arn],
    });
  });

  it('makes no resources for profiles without a route, and a rule with two targets for topicArn and email', () => {
    const context = { service: 'token-broker', stage: 'prod' };
    expect(notifyResources(load(`profiles:${profile('p', '{ refreshFailures: 5 }')}`), context)).toEqual({
      Resources: {},
    });
    const both = notifyResources(
      load(`profiles:${profile('p', `{ topicArn: '${TOPIC}', email: ops@example.com }`)}`),
      context,
    ).Resources;
    const id = notifyLogicalId('p');
    expect(Object.keys(both).sort()).toEqual(
      [`${id}Email0`, `${id}Rule`, `${id}Topic`, `${id}TopicPolicy`].sort(),
    );
    expect(both[`${id}Rule`]!.Properties['Targets']).toEqual([
      { Id: 'topic', Arn: TOPIC },
      { Id: 'email', Arn: { Ref: `${id}Topic` } },
    ]);
  });
});

describe('checkDeployment: notify', () => {
  it("returns the statement the topic's owner adds, with <stage> when the stage is unknown", () => {
    const config = load(
      `profiles:${profile('billing', `{ topicArn: '${TOPIC}' }`)}${profile('mail', '{ email: a@example.com }')}`,
    );
    const unknown = check(config);
    expect(unknown.problems).toEqual([]);
    expect(unknown.topicGrants.map((g) => [g.profile, g.topicArn])).toEqual([['billing', TOPIC]]);
    expect(JSON.stringify(unknown.topicGrants[0]!.statement)).toContain(
      '"aws:SourceArn":"arn:aws:events:eu-west-1:123456789012:rule/token-broker-<stage>-billing"',
    );
    const known = check(config, { stage: 'prod' });
    expect(known.topicGrants[0]!.statement).toEqual(
      topicPolicyStatement(
        { profile: 'billing', topicArn: TOPIC, emails: [] },
        { service: 'token-broker', stage: 'prod' },
      ),
    );
  });

  it('refuses a topicArn that is not an SNS topic ARN, or a topic outside the bus region, one line each with the fix', () => {
    const config = load(`profiles:${profile('billing', `{ topicArn: '${TOPIC}' }`)}`);
    const bad = {
      ...config,
      profiles: {
        billing: {
          ...config.profiles['billing']!,
          notify: {
            ...config.profiles['billing']!.notify!,
            topicArn: 'arn:aws:sqs:eu-west-1:123456789012:q',
          },
        },
      },
    } as BrokerConfig;
    expect(check(bad).problems.map(formatProblem)).toEqual([
      'profile billing: notify.topicArn: arn:aws:sqs:eu-west-1:123456789012:q is not an SNS topic ARN; write arn:aws:sns:<region>:<account>:<topic name>',
    ]);
    expect(
      check(config, { eventBus: 'arn:aws:events:us-east-1:123456789012:event-bus/team' }).problems.map(
        formatProblem,
      ),
    ).toEqual([
      "profile billing: notify.topicArn: the topic is in eu-west-1, the bus team in us-east-1; EventBridge sends to a topic in the rule's region, so name one in us-east-1",
    ]);
  });
});

describe('token-broker check --deployed: notify', () => {
  it("prints, after the verdict, the one statement per topicArn profile that the topic's owner adds", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tb-notify-check-'));
    try {
      await writeFile(join(dir, 'serverless.yml'), 'service: token-broker\n');
      await writeFile(
        join(dir, 'token-broker.yaml'),
        `profiles:${profile('billing.docusign', `{ topicArn: '${TOPIC}' }`)}${profile('mail', '{ email: a@example.com }')}`,
      );
      const c = captureIo({ env: {}, cwd: dir });
      expect(await main(['check', '--deployed', '--config', 'token-broker.yaml'], c.io)).toBe(0);
      const statement = topicPolicyStatement(
        { profile: 'billing.docusign', topicArn: TOPIC, emails: [] },
        { service: 'token-broker', stage: '<stage>' },
      );
      expect(c.stdout()).toBe(
        [
          `config ${join(dir, 'token-broker.yaml')}: 2 profiles`,
          'deployed: ok (--param="profiles=token-broker.yaml")',
          `  notify: profile billing.docusign sends to ${TOPIC}; its owner adds to the topic's policy (the stage you deploy for <stage>; the stack's account if not the topic's):`,
          `    ${JSON.stringify(statement)}`,
          '',
        ].join('\n'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
