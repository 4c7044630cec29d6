/**
 * The packaged template (`osls package`) of a profiles file whose profiles route their
 * events (`notify`): one EventBridge rule per routed profile on the stack's bus, the topic,
 * subscriptions and topic policy of an e-mail route, and `events:PutEvents` on that bus
 * alone for the functions that emit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifyLogicalId } from '../../lib/deploy/notify.ts';
import { packageService, type PackagedService, type Resource } from '../support/osls-package.ts';

const NOTIFY_PROFILES = 'test/fixtures/deploy/notify-profiles.yaml';
/** A bus of the team's own, given as an ARN: used as is. */
const BUS_ARN = 'arn:aws:events:eu-west-1:123456789012:event-bus/team-events';

let packaged: PackagedService;
let resources: Record<string, Resource>;
beforeAll(async () => {
  packaged = await packageService(NOTIFY_PROFILES, 'ci', { eventBus: BUS_ARN });
  expect(packaged.code, packaged.output).toBe(0);
  resources = packaged.resources;
}, 300_000);
afterAll(() => packaged?.remove());

const ofType = (type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const statementsOf = (role: string) =>
  (
    resources[role]!.Properties['Policies'] as { PolicyDocument: { Statement: Record<string, unknown>[] } }[]
  ).flatMap((p) => p.PolicyDocument.Statement);

const billing = notifyLogicalId('billing.docusign');
const sales = notifyLogicalId('sales-ops_sf');

describe('events in the packaged template (osls package, notify profiles)', () => {
  it('gives token, refresh and consentCallback exactly events:PutEvents on the bus ARN, and no other role any events action', () => {
    const exact = {
      Sid: 'PutProfileEvents',
      Effect: 'Allow',
      Action: ['events:PutEvents'],
      Resource: [BUS_ARN],
    };
    for (const role of ['TokenRole', 'RefreshRole', 'ConsentCallbackRole']) {
      const events = statementsOf(role).filter((s) => JSON.stringify(s['Action']).includes('events:'));
      expect(events, role).toEqual([exact]);
    }
    for (const role of ['HealthRole', 'ConsentStartRole'])
      expect(JSON.stringify(statementsOf(role)), role).not.toContain('events:');
    expect(JSON.stringify(ofType('AWS::IAM::Role'))).not.toMatch(/"events:\*"|"\*"/);
  });

  it('tells the emitting functions the bus in TOKEN_BROKER_EVENT_BUS, and only them', () => {
    for (const [fn, emits] of [
      ['Token', true],
      ['Refresh', true],
      ['ConsentCallback', true],
      ['Health', false],
      ['ConsentStart', false],
    ] as const) {
      const variables = resources[`${fn}LambdaFunction`]!.Properties['Environment'].Variables;
      expect(variables['TOKEN_BROKER_EVENT_BUS'], fn).toBe(emits ? BUS_ARN : undefined);
    }
  });

  it("routes each notify profile's events with one rule on the bus matching its name; none for a profile without notify", () => {
    const routes = ofType('AWS::Events::Rule').filter(([, r]) => r.Properties['EventPattern'] !== undefined);
    expect(routes.map(([id]) => id).sort()).toEqual([`${billing}Rule`, `${sales}Rule`].sort());
    expect(billing).toMatch(/^NotifyBillingDocusign[0-9a-f]{8}$/);
    expect(sales).toMatch(/^NotifySalesOpsSf[0-9a-f]{8}$/);
    // Logical ids: letters and digits only; names that differ by punctuation still differ.
    expect(notifyLogicalId('billing-docusign')).not.toBe(billing);
    expect(resources[`${billing}Rule`]!.Properties).toEqual({
      Name: 'token-broker-ci-billing.docusign',
      Description: 'token-broker events of profile billing.docusign',
      EventBusName: BUS_ARN,
      EventPattern: { source: ['token-broker'], detail: { profile: ['billing.docusign'] } },
      State: 'ENABLED',
      Targets: [{ Id: 'topic', Arn: 'arn:aws:sns:eu-west-1:123456789012:billing-alerts' }],
    });
    expect(resources[`${sales}Rule`]!.Properties).toEqual({
      Name: 'token-broker-ci-sales-ops_sf',
      Description: 'token-broker events of profile sales-ops_sf',
      EventBusName: BUS_ARN,
      EventPattern: { source: ['token-broker'], detail: { profile: ['sales-ops_sf'] } },
      State: 'ENABLED',
      Targets: [{ Id: 'email', Arn: { Ref: `${sales}Topic` } }],
    });
  });

  it('creates a topic for notify.email with one subscription per address and a policy allowing only that rule', () => {
    expect(
      ofType('AWS::SNS::Topic')
        .map(([id]) => id)
        .sort(),
    ).toEqual(['AlertTopic', `${sales}Topic`].sort());
    const subscriptions = ofType('AWS::SNS::Subscription').filter(([id]) => id.startsWith(sales));
    expect(subscriptions.map(([, s]) => s.Properties)).toEqual([
      { TopicArn: { Ref: `${sales}Topic` }, Protocol: 'email', Endpoint: 'sales-ops@example.com' },
      { TopicArn: { Ref: `${sales}Topic` }, Protocol: 'email', Endpoint: 'integrations@example.com' },
    ]);
    const policies = ofType('AWS::SNS::TopicPolicy');
    expect(policies.map(([id]) => id)).toEqual([`${sales}TopicPolicy`]);
    expect(policies[0]![1].Properties).toEqual({
      Topics: [{ Ref: `${sales}Topic` }],
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'ProfileEventsRule',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: { Ref: `${sales}Topic` },
            Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [`${sales}Rule`, 'Arn'] } } },
          },
        ],
      },
    });
    // The team's own topic keeps its policy: the stack never writes one for it.
    expect(JSON.stringify(policies)).not.toContain('billing-alerts');
  });

  it('keeps the stack resources beside the merged notify resources', () => {
    for (const id of ['CacheTable', 'TokenRole', 'AlertTopic', 'Dashboard'])
      expect(resources[id], id).toBeDefined();
    const [[, stage]] = ofType('AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    expect(Object.keys(stage.Properties['RouteSettings'])).toEqual([
      'GET /consent/{profile}',
      'GET /consent/callback',
    ]);
  });
});

describe('events with the default bus (osls package, the template test profiles)', () => {
  let plain: PackagedService;
  beforeAll(async () => {
    plain = await packageService();
    expect(plain.code, plain.output).toBe(0);
  }, 300_000);
  afterAll(() => plain?.remove());

  it('puts on the default bus and routes nothing when no profile has notify', () => {
    const variables = plain.resources['RefreshLambdaFunction']!.Properties['Environment'].Variables;
    expect(variables['TOKEN_BROKER_EVENT_BUS']).toBe('default');
    expect(Object.keys(plain.resources).filter((id) => id.startsWith('Notify'))).toEqual([]);
  });
});
