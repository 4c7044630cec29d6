import { describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_MS, DEFAULT_MAX_HOLD_MS, SharedFlight } from '../../lib/cache/shared-flight.ts';
import type { CachedToken } from '../../lib/cache/types.ts';
import { DEADLINE_MS } from '../../lib/exchange/retry.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { descriptorFor, recordingLogger, tokenAt, uniqueKey } from '../support/shared-cache-fixtures.ts';

const descriptor = descriptorFor('a@example.com');
const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function flight(
  store: ReturnType<typeof memorySharedStore>,
  options: { leaseMs: number; maxHoldMs: number },
) {
  const logger = recordingLogger();
  return {
    logger,
    flight: new SharedFlight({
      store,
      clock: Date.now,
      logger,
      sleep: wait,
      holder: 'me',
      consentMs: 60_000,
      ...options,
    }),
  };
}

describe('SharedFlight lease', () => {
  it('holds the lease for as long as the exchange deadline plus the key opening allow, by default', () => {
    expect(DEFAULT_MAX_HOLD_MS).toBeGreaterThan(DEADLINE_MS);
    expect(DEFAULT_LEASE_MS).toBeLessThan(DEFAULT_MAX_HOLD_MS);
  });

  it('renews the lease while a load longer than several leases runs, so nobody else may take it', async () => {
    const store = memorySharedStore(Date.now);
    const key = uniqueKey();
    const { flight: mine } = flight(store, { leaseMs: 90, maxHoldMs: 5_000 });
    const taken: boolean[] = [];
    const load = async (): Promise<CachedToken> => {
      for (let i = 0; i < 4; i++) {
        await wait(100);
        taken.push(await store.acquireLease(key, descriptor, 'other/1', 90));
      }
      return tokenAt(Date.now());
    };

    const result = await mine.obtain({ key, descriptor, load }, () => true);

    expect(result.cached).toBe(false);
    expect(taken).toEqual([false, false, false, false]);
    expect(store.calls.filter((call) => call === 'renewLease').length).toBeGreaterThanOrEqual(3);
    expect(store.tokens.get(key)).toEqual(result.token);
  });

  it('stops renewing after maxHoldMs; a later finisher is fenced out and serves the newer token', async () => {
    const store = memorySharedStore(Date.now);
    const key = uniqueKey();
    const { flight: mine, logger } = flight(store, { leaseMs: 60, maxHoldMs: 100 });
    const newer = tokenAt(Date.now() + 1);
    const load = async (): Promise<CachedToken> => {
      await wait(300); // the lease lapses 60 ms after the last renewal (before 100 ms)
      expect(await store.acquireLease(key, descriptor, 'other/1', 1_000)).toBe(true);
      expect(await store.put(key, descriptor, newer, 'other/1')).toBe(true);
      return tokenAt(Date.now());
    };

    const result = await mine.obtain({ key, descriptor, load }, () => true);

    expect(result).toEqual({ token: newer, cached: true });
    expect(store.tokens.get(key)).toEqual(newer);
    expect(logger.warnings().map((line) => [line.message, line.fields?.['outcome']])).toEqual([
      ['lease lapsed during the refresh; another instance took over', 'serving the newer token'],
    ]);
  });
});
