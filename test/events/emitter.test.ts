import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { parseConfig } from '../../lib/config/parse.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { createDynamoDbEventState } from '../../lib/events/dynamodb-state.ts';
import { createProfileEvents, REARM_INTERVAL_MS, type ProfileEvents } from '../../lib/events/emitter.ts';
import { createEventBridgeSink } from '../../lib/events/eventbridge.ts';
import { subjectFingerprint } from '../../lib/events/schema.ts';
import { createMemoryEventState, type EventState } from '../../lib/events/state.ts';
import type { Logger, Metrics } from '../../lib/types.ts';
import { FAKE_CREDENTIALS, startDynalite, type Dynalite } from '../support/dynalite.ts';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server.ts';

const DAY = 86_400_000;
const PROFILES = `
profiles:
  billing:
    issuer: billing-client
    subject: billing@example.com
    tokenUri: https://auth.example.com/oauth/token
    certStore: file:./billing.p12
    notify:
      refreshFailures: 3
      topicArn: arn:aws:sns:eu-west-1:123456789012:billing-alerts
  sales:
    issuer: sales-client
    tokenUri: https://auth.example.com/oauth/token
    certStore: file:./sales.p12
    notify:
      subject: fingerprint
      certificateDays: [14, 2]
`;

function recorder(): Logger & { lines: { level: string; message: string; fields: unknown }[] } {
  const lines: { level: string; message: string; fields: unknown }[] = [];
  const at = (level: string) => (message: string, fields?: unknown) =>
    void lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function counter(): Metrics & { total(name: string): number } {
  const counts = new Map<string, number>();
  return {
    count: (name, value = 1) => void counts.set(name, (counts.get(name) ?? 0) + value),
    timing: () => undefined,
    total: (name) => counts.get(name) ?? 0,
  };
}

let bridge: EventBridgeServer;
let dynamo: Dynalite;
let config: BrokerConfig;

beforeAll(async () => {
  [bridge, dynamo] = await Promise.all([startEventBridgeServer(), startDynalite()]);
  config = parseConfig(PROFILES, 'profiles.yaml');
  await ensureTable(dynamo.client(), 'events-table');
});
afterAll(async () => {
  await Promise.all([bridge.close(), dynamo.close()]);
});
beforeEach(() => {
  bridge.events.length = 0;
});

function eventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({
    endpoint: bridge.endpoint,
    region: 'eu-west-1',
    credentials: FAKE_CREDENTIALS,
  });
}

const states: [string, () => EventState][] = [
  ['memory', createMemoryEventState],
  ['DynamoDB', () => createDynamoDbEventState({ client: dynamo.client(), table: 'events-table' })],
];

describe.each(states)('profile events with %s state, through the EventBridge SDK client', (_, makeState) => {
  let now: number;
  let events: ProfileEvents;
  let logger: ReturnType<typeof recorder>;
  let metrics: ReturnType<typeof counter>;
  let state: EventState;

  beforeEach(() => {
    now = Date.parse('2026-12-07T03:00:00Z') + Math.floor(Math.random() * 1e9);
    logger = recorder();
    metrics = counter();
    state = makeState();
    events = createProfileEvents({
      config,
      sink: createEventBridgeSink({ bus: 'team-bus', client: eventBridgeClient() }),
      state,
      clock: () => now,
      logger,
      metrics,
    });
  });

  const target = () => ({ profile: 'billing', subject: `user-${now}@example.com`, scope: 'signature' });

  it('sends Token Refresh Failed at the 3rd failure in a row, never again while failing, and Recovered once', async () => {
    const t = target();
    const started = now;
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_REJECTED', error: 'invalid_grant' });
    now += 60_000;
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_REJECTED', error: 'invalid_grant' });
    expect(bridge.events).toHaveLength(0);
    now += 60_000;
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_UNAVAILABLE', retryAfter: 120 });
    expect(bridge.events).toHaveLength(1);
    for (let i = 0; i < 3; i += 1) await events.refreshFailed(t, { code: 'ERR_UPSTREAM_UNAVAILABLE' });
    expect(bridge.events).toHaveLength(1);
    const [failed] = bridge.events;
    expect(failed).toMatchObject({
      Source: 'token-broker',
      DetailType: 'Token Refresh Failed',
      EventBusName: 'team-bus',
    });
    expect(failed?.Detail).toEqual({
      schemaVersion: '1',
      profile: 'billing',
      subject: t.subject,
      scope: 'signature',
      code: 'ERR_UPSTREAM_UNAVAILABLE',
      failures: 3,
      retryAfter: 120,
      since: new Date(started).toISOString(),
      at: new Date(now).toISOString(),
    });

    await events.refreshSucceeded(t);
    await events.refreshSucceeded(t);
    expect(bridge.events.map((e) => e.DetailType)).toEqual([
      'Token Refresh Failed',
      'Token Refresh Recovered',
    ]);
    expect(bridge.events[1]?.Detail).toMatchObject({ failures: 6, since: new Date(started).toISOString() });
    expect(metrics.total('EventsSent')).toBe(2);
  });

  it('counts failures again from zero after a success that ends a short streak', async () => {
    const t = target();
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' });
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' });
    await events.refreshSucceeded(t);
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' });
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(bridge.events).toHaveLength(0);
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(bridge.events.map((e) => e.Detail['failures'])).toEqual([3]);
  });

  it('sends Consent Required once per subject until Consent Granted re-arms it', async () => {
    const t = target();
    const fields = { ...t, consentUrl: 'https://broker.example.com/consent/billing?subject=x' };
    await events.consentRequired(fields);
    await events.consentRequired(fields);
    await events.consentGranted({ profile: 'billing', subject: t.subject });
    await events.consentRequired(fields);
    expect(bridge.events.map((e) => e.DetailType)).toEqual([
      'Consent Required',
      'Consent Granted',
      'Consent Required',
    ]);
    expect(bridge.events[0]?.Detail).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      consentUrl: fields.consentUrl,
      subject: t.subject,
    });
  });

  it('names the subject by its fingerprint when notify.subject is fingerprint, and leaves out the consent URL that holds it', async () => {
    const subject = `someone-${now}@example.com`;
    const consentUrl = `https://broker.example.com:443/consent/sales?subject=${encodeURIComponent(subject)}`;
    await events.consentRequired({ profile: 'sales', subject, scope: undefined, consentUrl });
    expect(bridge.events[0]?.Detail).toEqual({
      schemaVersion: '1',
      profile: 'sales',
      subjectFingerprint: subjectFingerprint(subject),
      code: 'ERR_CONSENT_REQUIRED',
      at: new Date(now).toISOString(),
    });
    expect(JSON.stringify(bridge.events)).not.toContain(subject);
    expect(JSON.stringify(bridge.events)).not.toContain(encodeURIComponent(subject));
  });

  it('sends Certificate Expiring once per threshold crossed, and starts over for a renewed certificate', async () => {
    const notAfter = new Date(now + 40 * DAY + 1000);
    await events.certificateExpiry('billing', notAfter);
    expect(bridge.events).toHaveLength(0);
    for (const daysLeft of [29, 28, 20, 6, 5, 0]) {
      now = notAfter.getTime() - daysLeft * DAY - 1000;
      await events.certificateExpiry('billing', notAfter);
    }
    expect(bridge.events.map((e) => [e.Detail['threshold'], e.Detail['daysLeft']])).toEqual([
      [30, 29],
      [7, 6],
      [1, 0],
    ]);
    expect(bridge.events[0]?.Detail['notAfter']).toBe(notAfter.toISOString());
    const renewed = new Date(now + 3 * DAY + 1000);
    await events.certificateExpiry('billing', renewed);
    expect(bridge.events.at(-1)?.Detail).toMatchObject({
      threshold: 7,
      daysLeft: 3,
      notAfter: renewed.toISOString(),
    });
    expect(bridge.events).toHaveLength(4);
  });

  it("uses the profile's own certificateDays", async () => {
    const notAfter = new Date(now + 20 * DAY + 1000);
    await events.certificateExpiry('sales', notAfter);
    now += 7 * DAY;
    await events.certificateExpiry('sales', notAfter);
    expect(bridge.events.map((e) => e.Detail['threshold'])).toEqual([14]);
  });

  it('sends Key Rejected once per profile until a token is obtained again', async () => {
    await events.keyRejected({ profile: 'billing', error: 'invalid_client', stage: 'reopened' });
    await events.keyRejected({ profile: 'billing', error: 'invalid_client', stage: 'reopened' });
    await events.tokenObtained('billing', 'billing@example.com');
    await events.keyRejected({ profile: 'billing', error: 'invalid_grant', stage: 'pending' });
    expect(bridge.events.map((e) => [e.DetailType, e.Detail['error'], e.Detail['stage']])).toEqual([
      ['Key Rejected', 'invalid_client', 'reopened'],
      ['Key Rejected', 'invalid_grant', 'pending'],
    ]);
    expect(bridge.events[0]?.Detail).toEqual({
      schemaVersion: '1',
      profile: 'billing',
      code: 'ERR_UPSTREAM_REJECTED',
      error: 'invalid_client',
      stage: 'reopened',
      at: new Date(now).toISOString(),
    });
  });

  it('re-arms Key Rejected at most once per interval per instance, unless it saw the rejection itself', async () => {
    const other = createProfileEvents({
      config,
      sink: createEventBridgeSink({ bus: 'team-bus', client: eventBridgeClient() }),
      state,
      clock: () => now,
      logger,
      metrics,
    });
    const rejected = { profile: 'sales', error: 'invalid_client', stage: 'key' };
    await events.tokenObtained('sales', 'someone@example.com');
    await other.keyRejected(rejected);
    now += REARM_INTERVAL_MS / 2;
    await events.tokenObtained('sales', 'someone@example.com');
    await other.keyRejected(rejected);
    expect(bridge.events).toHaveLength(1);
    now += REARM_INTERVAL_MS;
    await events.tokenObtained('sales', 'someone@example.com');
    await other.keyRejected(rejected);
    expect(bridge.events).toHaveLength(2);
  });

  it('re-arms Consent Required of a subject when a token is obtained for it', async () => {
    const t = target();
    const fields = { ...t, consentUrl: undefined };
    await events.consentRequired(fields);
    await events.tokenObtained('billing', `other-${t.subject}`);
    await events.consentRequired(fields);
    expect(bridge.events).toHaveLength(1);
    await events.tokenObtained('billing', t.subject);
    await events.consentRequired(fields);
    expect(bridge.events.map((e) => e.DetailType)).toEqual(['Consent Required', 'Consent Required']);
  });

  it("leaves out a provider's error that is not an OAuth error code", async () => {
    await events.refreshFailed(
      { ...target(), scope: undefined },
      { code: 'ERR_UPSTREAM_REJECTED', error: 'x'.repeat(65) },
    );
    await events.tokenObtained('sales', 'someone@example.com');
    await events.keyRejected({ profile: 'sales', error: 'bad "quote"', stage: 'key' });
    const failed = { ...target(), profile: 'sales' };
    for (let i = 0; i < 3; i += 1)
      await events.refreshFailed(failed, { code: 'ERR_UPSTREAM_REJECTED', error: 'a\nb' });
    expect(bridge.events.map((e) => [e.DetailType, 'error' in e.Detail])).toEqual([
      ['Key Rejected', false],
      ['Token Refresh Failed', false],
    ]);
  });

  it('does not fail its caller when PutEvents fails: one warning, EventsFailed, and the event is tried again next time', async () => {
    bridge.fail('ThrottlingException', 1);
    const t = target();
    const fields = { ...t, consentUrl: undefined };
    await expect(events.consentRequired(fields)).resolves.toBeUndefined();
    expect(bridge.events).toHaveLength(0);
    expect(metrics.total('EventsFailed')).toBe(1);
    const warnings = logger.lines.filter((line) => line.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ message: 'event not sent' });
    expect(JSON.stringify(warnings[0]?.fields)).toContain('ThrottlingException');
    await events.consentRequired(fields);
    expect(bridge.events.map((e) => e.DetailType)).toEqual(['Consent Required']);
  });
});

describe('profile events whose sink does not answer', () => {
  it('give up within their time bound', async () => {
    const metrics = counter();
    const logger = recorder();
    const events = createProfileEvents({
      config,
      sink: { send: () => new Promise<void>(() => undefined) },
      state: createMemoryEventState(),
      logger,
      metrics,
      timeoutMs: 50,
    });
    await events.keyRejected({ profile: 'billing', error: 'invalid_client', stage: 'key' });
    expect(metrics.total('EventsFailed')).toBe(1);
    expect(JSON.stringify(logger.lines)).toContain('no answer within 50 ms');
  });
});

describe('refresh events with a deadline of their own', () => {
  it('end by `until` when it comes before their time bound, the send aborted then', async () => {
    const at = Date.parse('2026-12-07T03:00:00Z');
    const metrics = counter();
    const logger = recorder();
    let aborted: boolean | undefined;
    const events = createProfileEvents({
      config,
      clock: () => at,
      sink: {
        send: (_, signal) =>
          new Promise<void>((_, reject) =>
            signal?.addEventListener('abort', () => {
              aborted = true;
              reject(signal.reason);
            }),
          ),
      },
      state: createMemoryEventState(),
      logger,
      metrics,
      timeoutMs: 60_000,
    });
    const t = { profile: 'billing', subject: 'alice@example.com', scope: undefined };
    // The profile reports at its third failure in a row; the third has 50 ms left of its run.
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' }, at + 60_000);
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' }, at + 60_000);
    await events.refreshFailed(t, { code: 'ERR_UPSTREAM_TIMEOUT' }, at + 50);
    expect(aborted).toBe(true);
    expect(metrics.total('EventsFailed')).toBe(1);
    expect(JSON.stringify(logger.lines)).toContain('no answer within 50 ms');
  });
});

describe('profile events whose EventBridge does not answer', () => {
  it('abort the PutEvents in flight at their time bound, so no request outlives the call', async () => {
    // A bus that reads the request and never answers; the client has no timeout of its own.
    const held: { closed: Promise<void> }[] = [];
    const silent = createServer((req) => {
      held.push({ closed: new Promise<void>((resolve) => req.socket.once('close', () => resolve())) });
      req.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const client = new EventBridgeClient({
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      region: 'eu-west-1',
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const metrics = counter();
      const logger = recorder();
      const events = createProfileEvents({
        config,
        sink: createEventBridgeSink({ bus: 'default', client }),
        state: createMemoryEventState(),
        logger,
        metrics,
        timeoutMs: 200,
      });
      await events.keyRejected({ profile: 'billing', error: 'invalid_client', stage: 'key' });
      expect(metrics.total('EventsFailed')).toBe(1);
      expect(JSON.stringify(logger.lines)).toContain('no answer within 200 ms');
      expect(held).toHaveLength(1);
      // Closed by the client's abort: without it the request would stay open until the test times out.
      await held[0]!.closed;
    } finally {
      client.destroy();
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('profile events whose state table does not answer', () => {
  it('abort the state write in flight at their time bound, so no request outlives the call', async () => {
    // A table endpoint that reads the request and never answers.
    const held: { closed: Promise<void> }[] = [];
    const silent = createServer((req) => {
      held.push({ closed: new Promise<void>((resolve) => req.socket.once('close', () => resolve())) });
      req.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      region: 'eu-west-1',
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
    try {
      const metrics = counter();
      const logger = recorder();
      const events = createProfileEvents({
        config,
        sink: createEventBridgeSink({ bus: 'default', client: eventBridgeClient() }),
        state: createDynamoDbEventState({ client, table: 'events-table' }),
        logger,
        metrics,
        timeoutMs: 200,
      });
      await events.keyRejected({ profile: 'billing', error: 'invalid_client', stage: 'key' });
      expect(metrics.total('EventsFailed')).toBe(1);
      expect(held).toHaveLength(1);
      // Closed by the abort: without it the claim's request would stay open until the test times out.
      await held[0]!.closed;
      expect(bridge.events).toHaveLength(0);
    } finally {
      client.destroy();
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('settle both re-arming deletes before tokenObtained returns, even when one fails at once', async () => {
    let slowSettled = false;
    const memory = createMemoryEventState();
    const state: EventState = {
      ...memory,
      release: (key) =>
        key.startsWith('event#key#')
          ? Promise.reject(new Error('AccessDenied'))
          : new Promise((resolve) =>
              setTimeout(() => {
                slowSettled = true;
                resolve(undefined);
              }, 30),
            ),
    };
    const logger = recorder();
    const events = createProfileEvents({
      config,
      sink: { send: async () => undefined },
      state,
      logger,
      metrics: counter(),
    });
    await events.tokenObtained('billing', 'alice@example.com');
    expect(slowSettled).toBe(true);
    expect(JSON.stringify(logger.lines)).toContain('AccessDenied');
  });
});

describe('the DynamoDB state', () => {
  it('lets claims and failure counts lapse through the table TTL, a certificate record after its expiry', async () => {
    const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
    const client = dynamo.client();
    const now = Date.parse('2026-12-07T03:00:00Z');
    const state = createDynamoDbEventState({ client, table: 'events-table', clock: () => now });
    const ttlOf = async (pk: string) =>
      Number(
        (await client.send(new GetItemCommand({ TableName: 'events-table', Key: { pk: { S: pk } } }))).Item?.[
          'ttl'
        ]?.N,
      );
    await state.claim('event#key#ttl-test', { since: now });
    await state.addFailure('event#refresh#ttl-test', now, { code: 'ERR_UPSTREAM_TIMEOUT' });
    await state.crossThreshold('event#certificate#ttl-test', now + 7 * DAY, 7);
    expect(await ttlOf('event#key#ttl-test')).toBe(now / 1000 + 30 * 86_400);
    expect(await ttlOf('event#refresh#ttl-test')).toBe(now / 1000 + 30 * 86_400);
    expect(await ttlOf('event#certificate#ttl-test')).toBe((now + 8 * DAY) / 1000);
    expect(await state.release('event#key#ttl-test')).toEqual({ since: now });
  });
});

describe('the certificate step run every minute', () => {
  it('writes the state once per threshold per instance, not once per run', async () => {
    const memory = createMemoryEventState();
    let writes = 0;
    const state: EventState = {
      ...memory,
      crossThreshold: (...args) => {
        writes += 1;
        return memory.crossThreshold(...args);
      },
    };
    const sentTypes: string[] = [];
    let now = Date.parse('2026-12-07T03:00:00Z');
    const events = createProfileEvents({
      config,
      sink: { send: async (event) => void sentTypes.push(event.detailType) },
      state,
      clock: () => now,
      logger: recorder(),
      metrics: counter(),
    });
    const notAfter = new Date(now + 20 * DAY);
    for (let minute = 0; minute < 10; minute += 1) {
      await events.certificateExpiry('billing', notAfter);
      now += 60_000;
    }
    expect([writes, sentTypes.length]).toEqual([1, 1]);
    now = notAfter.getTime() - 5 * DAY;
    await events.certificateExpiry('billing', notAfter);
    await events.certificateExpiry('billing', notAfter);
    expect([writes, sentTypes.length]).toEqual([2, 2]);
  });
});
