import { GetItemCommand, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_KEYS } from '../../lib/cache/due.ts';
import { createDynamoDbStore } from '../../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { createResilientStore, FALLBACK_WARNING_PERIOD_MS } from '../../lib/cache/resilient-store.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import { clientFor, startDynalite } from '../support/dynalite.ts';
import { hang, startFaultServer, type FaultServer } from '../support/fault-server.ts';
import type { Dynalite } from '../support/dynalite.ts';
import {
  descriptorFor,
  manualClock,
  randomSealKey,
  recordingLogger,
  recordingMetrics,
  tokenAt,
  uniqueKey,
} from '../support/shared-cache-fixtures.ts';

const TABLE = 'token-broker-cache';
const descriptor = descriptorFor('a@example.com');

/** Every operation once, answering what the broker would see. */
async function everyOperation(store: SharedTokenStore, now: number) {
  const key = uniqueKey();
  return {
    get: await store.get(key),
    acquireLease: await store.acquireLease(key, descriptor, 'holder', 2000),
    renewLease: await store.renewLease(key, 'holder', 2000),
    getConsentRequired: await store.getConsentRequired(key),
    putConsentRequired: await store.putConsentRequired(key, descriptor, {
      until: now + 60_000,
      consentUrl: undefined,
      error: 'consent_required',
      errorDescription: undefined,
    }),
    put: await store.put(key, descriptor, tokenAt(now), 'holder'),
    releaseLease: await store.releaseLease(key, 'holder'),
    claimForcedRefresh: await store.claimForcedRefresh(key, 'holder', 2000, now, 10_000),
    claimProof: await store.claimProof(key, now + 60_000),
    touch: await store.touch(key),
    listDue: await store.listDue({ now, usedSince: 0, shard: ALL_KEYS }),
  };
}

const FALLBACK_ANSWERS = {
  get: undefined,
  acquireLease: true,
  renewLease: true,
  getConsentRequired: undefined,
  putConsentRequired: undefined,
  put: true,
  releaseLease: undefined,
  claimForcedRefresh: 'claimed',
  claimProof: true,
  touch: undefined,
  listDue: [],
};

/** A store whose every operation fails (or hangs) the way the test says. */
function failingStore(fail: () => Promise<never>): SharedTokenStore & { calls: number } {
  const store = {
    calls: 0,
    get: () => (store.calls++, fail()),
    put: () => (store.calls++, fail()),
    acquireLease: () => (store.calls++, fail()),
    renewLease: () => (store.calls++, fail()),
    releaseLease: () => (store.calls++, fail()),
    claimForcedRefresh: () => (store.calls++, fail()),
    claimProof: () => (store.calls++, fail()),
    getConsentRequired: () => (store.calls++, fail()),
    putConsentRequired: () => (store.calls++, fail()),
    touch: () => (store.calls++, fail()),
    listDue: () => (store.calls++, fail()),
  };
  return store;
}

describe('createResilientStore with a stopped dynalite', () => {
  let dynamo: Dynalite;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  it('answers every operation as a miss, logs one warning per period and counts each fallback', async () => {
    const client = dynamo.client({ maxAttempts: 1 });
    await ensureTable(client, TABLE);
    const clock = manualClock();
    const logger = recordingLogger();
    const metrics = recordingMetrics();
    const inner = createDynamoDbStore({ client, table: TABLE, sealKey: randomSealKey(), clock: clock.now });
    const store = createResilientStore(inner, { clock: clock.now, logger, metrics, failureThreshold: 1000 });
    const key = uniqueKey();
    await store.put(key, descriptor, tokenAt(clock.now()));
    expect(await store.get(key)).toBeDefined();

    await dynamo.close();

    expect(await everyOperation(store, clock.now())).toEqual(FALLBACK_ANSWERS);
    expect(await everyOperation(store, clock.now())).toEqual(FALLBACK_ANSWERS);
    expect(logger.warnings()).toHaveLength(1);
    expect(logger.warnings()[0]!.message).toBe(
      'shared token cache unavailable; serving from the in-process cache and the upstream',
    );
    expect(logger.warnings()[0]!.fields).toMatchObject({ operation: 'get', circuit: 'closed' });
    expect(metrics.total('SharedCacheFallbacks')).toBe(22);
    expect(metrics.counts[1]!.dimension).toEqual({ operation: 'acquireLease' });

    clock.advance(FALLBACK_WARNING_PERIOD_MS);
    expect(await store.get(key)).toBeUndefined();
    expect(logger.warnings()).toHaveLength(2);
    expect(logger.warnings()[1]!.fields).toMatchObject({ operation: 'get', suppressedSinceLastWarning: 21 });
    client.destroy();
  });
});

describe('createResilientStore', () => {
  let blackHole: FaultServer;

  beforeAll(async () => {
    // Takes requests and never answers: a stalled endpoint.
    blackHole = await startFaultServer([hang]);
  });
  afterAll(() => blackHole?.close());

  it('abandons an operation on an endpoint that never answers after its timeout', async () => {
    const client = clientFor(new URL(blackHole.url).origin, { maxAttempts: 1 });
    const logger = recordingLogger();
    const inner = createDynamoDbStore({ client, table: TABLE, sealKey: randomSealKey() });
    const store = createResilientStore(inner, { logger, timeoutMs: 100 });

    expect(await store.get(uniqueKey())).toBeUndefined();
    expect(await store.acquireLease(uniqueKey(), descriptor, 'h', 1000)).toBe(true);

    expect(logger.warnings()).toHaveLength(1);
    expect(logger.warnings()[0]!.fields).toMatchObject({
      error: 'SharedCallTimeout',
      reason: 'no answer within 100 ms',
    });
    client.destroy();
  });

  it('falls back when DynamoDB throttles', async () => {
    const client = clientFor('http://127.0.0.1:9');
    const mock = mockClient(client);
    mock
      .on(GetItemCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} }));
    const logger = recordingLogger();
    const metrics = recordingMetrics();
    const inner = createDynamoDbStore({ client, table: TABLE, sealKey: randomSealKey() });
    const store = createResilientStore(inner, { logger, metrics });

    expect(await store.get(uniqueKey())).toBeUndefined();

    expect(mock.commandCalls(GetItemCommand)).toHaveLength(1);
    expect(logger.warnings()[0]!.fields).toMatchObject({
      error: 'ProvisionedThroughputExceededException',
      reason: 'Rate exceeded',
    });
    expect(metrics.counts).toEqual([
      { name: 'SharedCacheFallbacks', value: 1, dimension: { operation: 'get' } },
    ]);
    mock.restore();
    client.destroy();
  });

  it('skips the store after consecutive failures and tries again after the cool-down', async () => {
    const clock = manualClock();
    let healthy = false;
    const failing = failingStore(() => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')));
    const inner: SharedTokenStore = {
      ...failing,
      get: (key) => (healthy ? (failing.calls++, Promise.resolve(undefined)) : failing.get(key)),
    };
    const logger = recordingLogger();
    const store = createResilientStore(inner, {
      clock: clock.now,
      logger,
      failureThreshold: 3,
      coolDownMs: 10_000,
    });

    for (let i = 0; i < 3; i++) expect(await store.get('k')).toBeUndefined();
    expect(failing.calls).toBe(3);
    expect(await store.acquireLease('k', descriptor, 'h', 1000)).toBe(true);
    expect(await store.get('k')).toBeUndefined();
    expect(failing.calls).toBe(3);

    clock.advance(10_000);
    expect(await store.get('k')).toBeUndefined(); // half-open: one try, fails, opens again
    expect(failing.calls).toBe(4);
    expect(await store.get('k')).toBeUndefined();
    expect(failing.calls).toBe(4);

    clock.advance(10_000);
    healthy = true;
    await store.get('k');
    await store.get('k');
    expect(failing.calls).toBe(6);
    expect(logger.warnings()).toHaveLength(1);
  });

  it('never rejects, even when the wrapped store throws synchronously', async () => {
    const throwing = failingStore(() => {
      throw new TypeError('bug');
    });
    const store = createResilientStore(throwing);

    expect(await everyOperation(store, Date.now())).toEqual(FALLBACK_ANSWERS);
  });
});
