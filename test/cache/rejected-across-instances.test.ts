/**
 * `rejected` wherever the report lands: two instances (X, Y) on one shared store, the
 * in-memory store of the tests and a dynalite table, then two real `serve` processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFingerprint } from '../../lib/broker/fingerprint.ts';
import { createDynamoDbStore } from '../../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { cacheKey } from '../../lib/cache/key.ts';
import { FORCED_REFRESH_INTERVAL_MS, TokenCache } from '../../lib/cache/token-cache.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { numberedTokens, startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { startFleet, type Fleet, type ServeProcess } from '../support/fleet.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import {
  countingUpstream,
  descriptorFor,
  manualClock,
  randomSealKey,
  tokenAt,
  uniqueKey,
} from '../support/shared-cache-fixtures.ts';

const TABLE = 'token-broker-cache';

/** Two instances X and Y, each with its own process cache, on stores of one table. */
function fleetOn(stores: readonly [SharedTokenStore, SharedTokenStore], clock: { now: () => number }) {
  const descriptor = descriptorFor('alice@example.com');
  const key = cacheKey(descriptor);
  const provider = countingUpstream(clock);
  const instance = (sharedStore: SharedTokenStore, holder: string) => {
    const cache = new TokenCache({ clock: clock.now, sharedStore, holder, sleep: async () => undefined });
    return async (rejected?: string) => {
      const result = await cache.get(
        key,
        descriptor,
        60_000,
        provider.load,
        rejected === undefined ? undefined : (held) => tokenFingerprint(held.accessToken) === rejected,
      );
      return result.token.accessToken;
    };
  };
  return { x: instance(stores[0], 'X'), y: instance(stores[1], 'Y'), calls: provider.calls };
}

type Clock = ReturnType<typeof manualClock>;

/** The behaviour the issue asks for, on any pair of stores of one table reading `clock`. */
async function rejectedWhereverItLands(stores: readonly [SharedTokenStore, SharedTokenStore], clock: Clock) {
  const { x, y, calls } = fleetOn(stores, clock);
  expect(await x()).toBe('tok-1');
  expect(await y(), 'Y reads the shared entry').toBe('tok-1');
  expect(calls()).toBe(1);

  expect(await y(tokenFingerprint('tok-1')), 'Y holds T1 only through the store').toBe('tok-2');
  expect(calls(), 'one more upstream call').toBe(2);

  expect(await Promise.all([x(tokenFingerprint('tok-1')), y(tokenFingerprint('tok-1'))])).toEqual([
    'tok-2',
    'tok-2',
  ]);
  expect(calls(), 'the same report again, to both: no further upstream call').toBe(2);
  expect(await x(), 'X dropped its copy of T1').toBe('tok-2');

  expect(await Promise.all([x('0badf00d'), y('0badf00d')]), 'an unknown fingerprint').toEqual([
    'tok-2',
    'tok-2',
  ]);
  expect(calls()).toBe(2);

  clock.advance(1_000);
  expect(await x(tokenFingerprint('tok-2')), 'T2 reported within the interval of T1’s forced refresh').toBe(
    'tok-2',
  );
  expect(calls(), 'the rate limit holds on X though Y forced the refresh').toBe(2);

  clock.advance(FORCED_REFRESH_INTERVAL_MS);
  expect(await Promise.all([x(tokenFingerprint('tok-2')), y(tokenFingerprint('tok-2'))])).toEqual([
    'tok-3',
    'tok-3',
  ]);
  expect(calls(), 'after the interval: one forced refresh for two concurrent reports').toBe(3);
}

describe('rejected across instances on the in-memory shared store', () => {
  it('replaces the stored token once, wherever the report lands, one forced refresh per interval', async () => {
    const clock = manualClock();
    const store = memorySharedStore(clock.now);
    await rejectedWhereverItLands([store, store], clock);
    expect(store.leases.size, 'no lease left behind').toBe(0);
  });
});

describe('rejected across instances on one dynalite table', () => {
  let dynamo: Dynalite;

  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureTable(dynamo.client(), TABLE);
  });
  afterAll(() => dynamo?.close());

  it('claims the forced refresh of the stored token in one conditional write: claimed, busy, limited', async () => {
    const clock = manualClock();
    const store = createDynamoDbStore({
      client: dynamo.client(),
      table: TABLE,
      sealKey: randomSealKey(),
      clock: clock.now,
    });
    const key = uniqueKey('forced');
    const descriptor = descriptorFor('a@example.com');
    const t1 = tokenAt(clock.now());
    expect(await store.put(key, descriptor, t1)).toBe(true);

    expect(
      await store.claimForcedRefresh(key, 'A/1', 10_000, t1.obtainedAt + 1, 10_000),
      'another token',
    ).toBe('busy');
    expect(await store.claimForcedRefresh(key, 'A/1', 10_000, t1.obtainedAt, 10_000)).toBe('claimed');
    expect(await store.claimForcedRefresh(key, 'B/1', 10_000, t1.obtainedAt, 10_000), 'A refreshes').toBe(
      'busy',
    );
    expect(await store.acquireLease(key, descriptor, 'B/2', 10_000), 'the claim is the lease').toBe(false);

    clock.advance(1);
    const t2 = tokenAt(clock.now());
    expect(await store.put(key, descriptor, t2, 'A/1')).toBe(true);
    expect(
      await store.claimForcedRefresh(key, 'B/3', 10_000, t2.obtainedAt, 10_000),
      'within the interval',
    ).toBe('limited');
    clock.advance(10_000);
    expect(await store.claimForcedRefresh(key, 'B/4', 10_000, t2.obtainedAt, 10_000)).toBe('claimed');
  });

  it('gives T2 for fp(T1) reported to Y, once; the same report to X and Y then costs nothing', async () => {
    const clock = manualClock();
    const sealKey = randomSealKey();
    // Each instance has its own client and store, as two processes would.
    const stores = [0, 1].map(() =>
      createDynamoDbStore({ client: dynamo.client(), table: TABLE, sealKey, clock: clock.now }),
    ) as [SharedTokenStore, SharedTokenStore];
    await rejectedWhereverItLands(stores, clock);
  });
});

describe('rejected across two serve processes on one dynalite table', () => {
  const TEST_TIMEOUT_MS = 120_000;
  let provider: FaultServer;
  let fleet: Fleet;
  let x: ServeProcess;
  let y: ServeProcess;

  beforeAll(async () => {
    provider = await startFaultServer([numberedTokens('fleet')]);
    fleet = await startFleet([{ name: 'p', tokenUrl: provider.url }]);
    x = await fleet.start();
    y = await fleet.start();
  }, TEST_TIMEOUT_MS);
  afterAll(async () => {
    await fleet?.close();
    await provider?.close();
  });

  async function ask(serve: ServeProcess, rejected?: string): Promise<string> {
    const response = await fetch(`${serve.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ profile: 'p', ...(rejected === undefined ? {} : { rejected }) }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(200);
    return String(body['access_token']);
  }

  it(
    'answers T2 to fp(T1) sent to Y with one more upstream call; the same report to X and Y then none',
    async () => {
      expect(await ask(x)).toBe('fleet-1');
      expect(provider.count()).toBe(1);

      expect(await ask(y, tokenFingerprint('fleet-1'))).toBe('fleet-2');
      expect(provider.count(), 'one more upstream call').toBe(2);

      const again = await Promise.all([
        ask(x, tokenFingerprint('fleet-1')),
        ask(y, tokenFingerprint('fleet-1')),
      ]);
      expect(again).toEqual(['fleet-2', 'fleet-2']);
      expect(provider.count(), 'no further upstream call').toBe(2);

      expect(await Promise.all([ask(x, '0badf00d'), ask(y, '0badf00d')]), 'an unknown fingerprint').toEqual([
        'fleet-2',
        'fleet-2',
      ]);
      expect(
        await Promise.all([ask(x, tokenFingerprint('fleet-2')), ask(y)]),
        'T2 within the interval',
      ).toEqual(['fleet-2', 'fleet-2']);
      expect(provider.count()).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );
});
