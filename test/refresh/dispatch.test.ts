import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRefreshHandler } from '../../functions/refresh.ts';
import { createLambdaClient } from '../../lib/aws/sdk.ts';
import { inShard } from '../../lib/cache/due.ts';
import { itemKey } from '../../lib/cache/dynamodb-item.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { ConfigError } from '../../lib/errors.ts';
import {
  dispatchShards,
  lambdaShardInvoker,
  parseShardCount,
  REFUSED_EVENT_MESSAGE,
  shardOf,
  type ShardInvoker,
} from '../../lib/refresh/dispatch.ts';
import { lambdaContext, SCHEDULED_EVENT } from '../functions/events.ts';
import { FAKE_CREDENTIALS } from '../support/dynalite.ts';
import { startLambdaInvokeServer, type LambdaInvokeServer } from '../support/lambda-invoke-server.ts';
import { recordingLogger, recordingMetrics } from '../support/shared-cache-fixtures.ts';
import { CERT_FILE, configFrom, instance, refreshProfile } from './support.ts';

const SUBJECTS = Array.from({ length: 24 }, (_, i) => `user${i}@example.com`);
const FUNCTION = 'token-broker-ci-refresh';
const context = () => ({ ...lambdaContext(), getRemainingTimeInMillis: () => 55_000 });

let lambda: LambdaInvokeServer;
let auth: AuthorizationServer;

beforeAll(async () => {
  lambda = await startLambdaInvokeServer();
  auth = await startAuthorizationServer({
    clients: [{ clientId: 'app', certificatePem: await readFile(CERT_FILE, 'utf8') }],
  });
});
afterAll(async () => {
  await lambda?.close();
  await auth?.close();
});

/** The real SDK client against the loopback Lambda endpoint. */
const invoker = (): ShardInvoker =>
  lambdaShardInvoker(
    () =>
      createLambdaClient({ endpoint: lambda.endpoint, region: 'eu-west-1', credentials: FAKE_CREDENTIALS }),
    FUNCTION,
  );

async function handlerFor(shards: number, invoke: ShardInvoker = invoker()) {
  const config = configFrom(refreshProfile('demo', auth.tokenUrl, { refresh: { subjects: SUBJECTS } }));
  const { broker, sharedStore } = await instance(config, {}, Date.now, { exchange: { maxAttempts: 1 } });
  const logger = recordingLogger();
  const handler = createRefreshHandler({
    runtime: async () => ({ config, broker, sharedStore }),
    logger,
    metrics: recordingMetrics(),
    fanOut: () => ({ shards, invoke }),
  });
  return { handler, broker, logger };
}

const subjectsSeen = (): string[] => auth.requests.map((r) => r.subject ?? '').sort();

describe('refresh fan-out (refresh.shards)', () => {
  it('starts one asynchronous worker per other shard through Lambda Invoke, and together they refresh every key once', async () => {
    auth.resetRequests();
    const before = lambda.invocations.length;
    const { handler, broker } = await handlerFor(4);

    const first = await handler(SCHEDULED_EVENT, context());

    const started = lambda.invocations.slice(before);
    expect(started.map((i) => i.payload)).toEqual(
      expect.arrayContaining([
        { shard: 1, shards: 4 },
        { shard: 2, shards: 4 },
        { shard: 3, shards: 4 },
      ]),
    );
    expect(started).toHaveLength(3);
    for (const invocation of started) {
      expect(invocation).toMatchObject({ functionName: FUNCTION, invocationType: 'Event', signed: true });
    }
    // The scheduled run itself refreshed shard 0 only.
    const shard0 = SUBJECTS.filter((subject) =>
      inShard(itemKey(broker.describe({ profile: 'demo', subject, scope: undefined }).key), {
        index: 0,
        count: 4,
      }),
    );
    expect(first.refreshed).toBe(shard0.length);
    expect(subjectsSeen()).toEqual([...shard0].sort());

    // Lambda runs the workers with the payloads it was given.
    let refreshed = first.refreshed;
    for (const invocation of started) {
      refreshed += (await handler(invocation.payload as { shard: number; shards: number }, context()))
        .refreshed;
    }
    expect(refreshed).toBe(SUBJECTS.length);
    expect(subjectsSeen()).toEqual([...SUBJECTS].sort());
  });

  it('invokes nothing with one shard', async () => {
    auth.resetRequests();
    const before = lambda.invocations.length;
    const { handler } = await handlerFor(1);

    expect((await handler(SCHEDULED_EVENT, context())).refreshed).toBe(SUBJECTS.length);
    expect(lambda.invocations.length).toBe(before);
  });

  it('logs a worker Lambda refused, and still refreshes its own shard', async () => {
    auth.resetRequests();
    // The client's two attempts are both throttled.
    const throttled = { status: 429, type: 'TooManyRequestsException', message: 'Rate Exceeded.' };
    lambda.answerNext(throttled, throttled);
    const { handler, logger } = await handlerFor(2);

    const summary = await handler(SCHEDULED_EVENT, context());

    expect(summary.failed).toEqual({});
    expect(summary.refreshed).toBeGreaterThan(0);
    expect(summary.refreshed).toBeLessThan(SUBJECTS.length);
    expect(logger.warnings()).toContainEqual({
      level: 'warn',
      message: 'refresh worker not started; its shard waits for the next run',
      fields: { shard: 1, shards: 2, code: 'TooManyRequestsException', reason: 'Rate Exceeded.' },
    });
  });

  it('dispatches shards 1 to n-1 exactly once each, at most 16 at a time', async () => {
    const seen: number[] = [];
    let running = 0;
    let most = 0;
    const invoke: ShardInvoker = async (shard) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.push(shard.index);
      running -= 1;
    };
    expect(await dispatchShards(64, invoke, recordingLogger())).toEqual({ invoked: 63, failed: 0 });
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 63 }, (_, i) => i + 1));
    expect(most).toBe(16);
  });
});

describe('shard settings and events', () => {
  it('reads the shard count, 1 when unset, and refuses anything but 1 to 64 with ERR_CONFIG', () => {
    expect(parseShardCount(undefined)).toBe(1);
    expect(parseShardCount('8')).toBe(8);
    for (const bad of ['0', '65', '2.5', 'four', '-1']) {
      expect(() => parseShardCount(bad)).toThrow(
        new ConfigError(
          'ERR_CONFIG',
          `refresh.shards must be a whole number from 1 to 64, got "${bad}"; set it with --param="refresh.shards=N"`,
        ),
      );
    }
  });

  it('tells a worker event from the schedule, and refuses a malformed one with ERR_INVALID_REQUEST', async () => {
    expect(shardOf(SCHEDULED_EVENT)).toBeUndefined();
    expect(shardOf({ shard: 2, shards: 3 })).toEqual({ index: 2, count: 3 });
    const message =
      'a refresh worker event needs whole numbers {"shard": i, "shards": n} with 0 <= i < n <= 64';
    for (const bad of [{ shard: 3, shards: 3 }, { shard: '1', shards: 2 }, { shard: 1 }]) {
      expect(() => shardOf(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_REQUEST', message }));
    }
    const { handler } = await handlerFor(1);
    await expect(handler({ shard: 5, shards: 2 }, context())).rejects.toMatchObject({
      code: 'ERR_INVALID_REQUEST',
      message,
    });
  });

  it.each([
    ['an empty object', {}],
    ['null', null],
    ['a list', [SCHEDULED_EVENT]],
    ['a schedule without its source', { 'detail-type': 'Scheduled Event' }],
    ['another EventBridge source', { ...SCHEDULED_EVENT, source: 'token-broker' }],
    ['another detail type', { ...SCHEDULED_EVENT, 'detail-type': 'Token Refresh Failed' }],
    ['an API Gateway request', { routeKey: 'POST /token', body: '{}' }],
  ])('refuses %s with ERR_INVALID_REQUEST and one log line, and starts no worker', async (_name, event) => {
    auth.resetRequests();
    let invoked = 0;
    const { handler, logger } = await handlerFor(4, async () => {
      invoked += 1;
    });
    const refused = handler(event as typeof SCHEDULED_EVENT, context());
    await expect(refused).rejects.toMatchObject({
      code: 'ERR_INVALID_REQUEST',
      message: REFUSED_EVENT_MESSAGE,
    });
    expect(REFUSED_EVENT_MESSAGE).toBe(
      'the refresh function acts only on its EventBridge schedule (source "aws.events", detail-type "Scheduled Event") ' +
        'or its own worker payload {"shard": i, "shards": n}; this event is neither, so nothing was refreshed or started',
    );
    expect(invoked).toBe(0);
    expect(auth.requests).toHaveLength(0);
    expect(logger.lines).toEqual([
      {
        level: 'error',
        message: 'refresh event refused',
        fields: { code: 'ERR_INVALID_REQUEST', reason: REFUSED_EVENT_MESSAGE },
      },
    ]);
  });

  it('refuses a worker payload with keys beyond {shard, shards}', async () => {
    let invoked = 0;
    const { handler, logger } = await handlerFor(4, async () => {
      invoked += 1;
    });
    await expect(
      handler({ shard: 1, shards: 2, source: 'aws.events' } as never, context()),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_REQUEST',
      message: 'a refresh worker event needs whole numbers {"shard": i, "shards": n} with 0 <= i < n <= 64',
    });
    expect(invoked).toBe(0);
    expect(logger.lines.map((l) => l.message)).toEqual(['refresh event refused']);
  });

  it('fans out for the schedule event only', async () => {
    let invoked = 0;
    const { handler } = await handlerFor(3, async () => {
      invoked += 1;
    });
    await handler(SCHEDULED_EVENT, context());
    expect(invoked).toBe(2);
    await handler({ shard: 1, shards: 3 }, context());
    expect(invoked).toBe(2);
  });
});
