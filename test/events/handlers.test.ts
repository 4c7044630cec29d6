import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRefreshHandler } from '../../functions/refresh.ts';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/parse.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { createProfileEvents, REARM_INTERVAL_MS, type ProfileEvents } from '../../lib/events/emitter.ts';
import { createEventBridgeSink } from '../../lib/events/eventbridge.ts';
import { createMemoryEventState, type EventState } from '../../lib/events/state.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { Logger, Metrics } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { FAKE_CREDENTIALS } from '../support/dynalite.ts';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';

const KEY_PATH = join(import.meta.dirname, '..', 'fixtures', 'keystores', 'pem-rsa2048-with-cert.pem');
const CALLER = 'arn:aws:iam::123456789012:role/app';

type Mode = 'ok' | 'consent' | 'fail' | 'unavailable';
let mode: Mode = 'ok';

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

let bridge: EventBridgeServer;
let provider: FaultServer;
let config: BrokerConfig;

beforeAll(async () => {
  bridge = await startEventBridgeServer();
  provider = await startFaultServer([
    (_, res) => {
      if (mode === 'consent') return json(res, 400, { error: 'consent_required' });
      if (mode === 'fail')
        return json(res, 400, { error: 'invalid_grant', error_description: 'user locked' });
      if (mode === 'unavailable')
        return json(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': '120' });
      return json(res, 200, {
        access_token: `at-${provider.count()}`,
        token_type: 'Bearer',
        expires_in: 3600,
      });
    },
  ]);
  config = parseConfig(
    [
      'profiles:',
      '  app:',
      '    provider: generic',
      '    issuer: app-client',
      '    subject: alice@example.com',
      `    tokenUri: POST ${provider.url}`,
      `    certStore: file:${KEY_PATH}`,
      `    callers: ["${CALLER}"]`,
      '    refresh: { subjects: [alice@example.com] }',
      '    notify: { refreshFailures: 1 }',
    ].join('\n'),
    'handlers.yaml',
  );
});
afterAll(async () => {
  await Promise.all([bridge.close(), provider.close()]);
});

function recorder(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => void warnings.push(message),
    error: (message) => void warnings.push(message),
  };
}

function counter(): Metrics & { total(name: string): number; flush(): void } {
  const counts = new Map<string, number>();
  return {
    count: (name, value = 1) => void counts.set(name, (counts.get(name) ?? 0) + value),
    timing: () => undefined,
    total: (name) => counts.get(name) ?? 0,
    flush: () => undefined,
  };
}

describe('handlers whose events cannot be put on the bus', () => {
  let events: ProfileEvents;
  let broker: TokenBroker;
  let logger: ReturnType<typeof recorder>;
  let metrics: ReturnType<typeof counter>;

  beforeEach(() => {
    bridge.events.length = 0;
    logger = recorder();
    metrics = counter();
    const client = new EventBridgeClient({
      endpoint: bridge.endpoint,
      region: 'eu-west-1',
      credentials: FAKE_CREDENTIALS,
      maxAttempts: 1,
    });
    events = createProfileEvents({
      config,
      sink: createEventBridgeSink({ bus: 'default', client }),
      state: createMemoryEventState(),
      logger,
      metrics,
    });
    broker = createBroker({
      config,
      secrets: createSecretResolver({ env: {}, cwd: process.cwd() }),
      logger,
      metrics,
      events,
      backgroundWork: false,
      consentUrl: () => 'https://broker.example.com/consent/app',
    });
  });

  const tokenRequest = () =>
    createTokenHandler({ broker, logger, metrics })(
      apiEvent({ body: JSON.stringify({ profile: 'app' }), userArn: CALLER }),
      lambdaContext(),
    );

  it('answers the token request as without events: 409 consent_required, then a token', async () => {
    bridge.fail('InternalException', Infinity);
    mode = 'consent';
    const refused = await tokenRequest();
    expect(refused.statusCode).toBe(409);
    expect(JSON.parse(String(refused.body))).toMatchObject({ error: 'consent_required' });
    expect(bridge.requests()).toBe(1);
    expect(metrics.total('EventsFailed')).toBe(1);
    expect(logger.warnings).toContain('event not sent');

    mode = 'ok';
    broker.invalidate({ profile: 'app' });
    const answered = await tokenRequest();
    expect(answered.statusCode).toBe(200);
    expect(JSON.parse(String(answered.body))).toMatchObject({ token_type: 'Bearer' });
    bridge.fail('InternalException', 0);
  });

  it('sends the event that failed when the condition is met again and the bus answers', async () => {
    bridge.fail('InternalException', 1);
    mode = 'consent';
    expect((await tokenRequest()).statusCode).toBe(409);
    broker.invalidate({ profile: 'app' });
    expect((await tokenRequest()).statusCode).toBe(409);
    expect(bridge.events.map((event) => event.DetailType)).toEqual(['Consent Required']);
    expect(bridge.events[0]?.Detail).toMatchObject({ consentUrl: 'https://broker.example.com/consent/app' });
  });

  it('summarises the scheduled refresh as without events, Retry-After in the event once the bus answers', async () => {
    const handler = createRefreshHandler({
      runtime: async () => ({ config, broker, sharedStore: undefined, events }),
      logger,
      metrics,
    });
    const context = { ...lambdaContext(), getRemainingTimeInMillis: () => 60_000 };
    const scheduled = { source: 'aws.events', 'detail-type': 'Scheduled Event' } as never;

    bridge.fail('InternalException', Infinity);
    mode = 'fail';
    const failed = await handler(scheduled, context);
    expect(failed).toMatchObject({ refreshed: 0, failed: { ERR_UPSTREAM_REJECTED: 1 } });
    expect(metrics.total('EventsFailed')).toBeGreaterThan(0);

    bridge.fail('InternalException', 0);
    mode = 'unavailable';
    await handler(scheduled, context);
    expect(bridge.events.map((event) => event.DetailType)).toEqual(['Token Refresh Failed']);
    expect(bridge.events[0]?.Detail).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE', failures: 2 });
    expect(bridge.events[0]?.Detail['retryAfter']).toBeGreaterThan(0);

    mode = 'ok';
    expect(await handler(scheduled, context)).toMatchObject({ refreshed: 1 });
    expect(bridge.events.map((event) => event.DetailType)).toEqual([
      'Token Refresh Failed',
      'Token Refresh Recovered',
    ]);
  });

  it('does no events work on a cache hit: no state call, no send', async () => {
    mode = 'ok';
    const calls: string[] = [];
    const memory = createMemoryEventState();
    const counted = Object.fromEntries(
      Object.entries(memory).map(([name, method]) => [
        name,
        (...args: unknown[]) => {
          calls.push(name);
          return (method as (...a: unknown[]) => unknown)(...args);
        },
      ]),
    ) as unknown as EventState;
    const client = new EventBridgeClient({
      endpoint: bridge.endpoint,
      region: 'eu-west-1',
      credentials: FAKE_CREDENTIALS,
    });
    // Past the re-arming interval before each hit, so a hit that did events work would show.
    let now = Date.now();
    const clock = () => now;
    const counting = createProfileEvents({
      config,
      clock,
      sink: createEventBridgeSink({ bus: 'default', client }),
      state: counted,
      logger,
      metrics,
    });
    const cachingBroker = createBroker({
      config,
      secrets: createSecretResolver({ env: {}, cwd: process.cwd() }),
      events: counting,
      clock,
      backgroundWork: false,
    });
    const issue = () => cachingBroker.issue({ profile: 'app', caller: { id: CALLER, kind: 'iam' } });
    expect((await issue()).cached).toBe(false);
    const afterMiss = calls.length;
    const requests = bridge.requests();
    expect(afterMiss).toBeGreaterThan(0);
    for (let i = 0; i < 5; i += 1) {
      now += REARM_INTERVAL_MS + 1;
      expect((await issue()).cached).toBe(true);
    }
    expect(calls).toHaveLength(afterMiss);
    expect(bridge.requests()).toBe(requests);
  });
});
