/**
 * The token cache without background work, as the Lambda runtime builds it: Lambda freezes
 * the process once the handler settles, so nothing the cache starts may outlive the call
 * that started it.
 */
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../lib/cache/key.ts';
import { STALE_RECHECK_MS, TokenCache } from '../../lib/cache/token-cache.ts';
import type { CachedToken } from '../../lib/cache/types.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { descriptorFor, manualClock } from '../support/shared-cache-fixtures.ts';

const descriptor = descriptorFor('s');
const KEY = cacheKey(descriptor);
const HOUR = 3_600_000;

function setup() {
  const clock = manualClock();
  const store = memorySharedStore(clock.now);
  let loads = 0;
  const token = (name: string): CachedToken => {
    const now = clock.now();
    return {
      accessToken: name,
      tokenType: 'Bearer',
      expiresAt: now + HOUR,
      scope: undefined,
      obtainedAt: now,
    };
  };
  const load = async (): Promise<CachedToken> => {
    loads += 1;
    return token(`tok-${loads}`);
  };
  const cache = new TokenCache({
    clock: clock.now,
    refreshMargin: 300,
    sharedStore: store,
    backgroundWork: false,
    sleep: async () => undefined,
  });
  return { clock, store, cache, load, token, loads: () => loads };
}

/** Everything queued so far has run (promises and immediates), so background work would show. */
const settle = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)));

describe('TokenCache without background work (Lambda)', () => {
  it('serves a stale token without starting a refresh: no upstream call, no lease after the answer', async () => {
    const { clock, store, cache, load, loads } = setup();
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 200_000); // 200 s left: inside the 300 s margin, above minTtl
    const served = await cache.get(KEY, descriptor, 60_000, load);
    expect(served).toMatchObject({ cached: true, token: { accessToken: 'tok-1' } });
    await settle();
    expect(loads()).toBe(1);
    expect(store.leases.size).toBe(0);
  });

  it('(a long-running server, with background work, refreshes the same stale hit after answering)', async () => {
    const clock = manualClock();
    const store = memorySharedStore(clock.now);
    const cache = new TokenCache({ clock: clock.now, refreshMargin: 300, sharedStore: store });
    let loads = 0;
    const load = async (): Promise<CachedToken> => {
      loads += 1;
      const now = clock.now();
      return {
        accessToken: `tok-${loads}`,
        tokenType: 'Bearer',
        expiresAt: now + HOUR,
        scope: undefined,
        obtainedAt: now,
      };
    };
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 200_000);
    expect((await cache.get(KEY, descriptor, 60_000, load)).token.accessToken).toBe('tok-1');
    expect(loads).toBe(1);
    for (let i = 0; i < 100 && loads < 2; i++) await settle();
    expect(loads).toBe(2);
  });

  it('takes the token the schedule refreshed from the shared store, reading it at most once per STALE_RECHECK_MS', async () => {
    const { clock, store, cache, load, token } = setup();
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 200_000);
    const reads = () => store.calls.filter((c) => c === 'get').length;
    const before = reads();
    expect((await cache.get(KEY, descriptor, 60_000, load)).token.accessToken).toBe('tok-1');
    expect(reads()).toBe(before + 1);
    // The schedule refreshes the shared entry.
    store.tokens.set(KEY, token('scheduled'));
    clock.advance(STALE_RECHECK_MS - 1);
    expect((await cache.get(KEY, descriptor, 60_000, load)).token.accessToken).toBe('tok-1');
    expect(reads()).toBe(before + 1);
    clock.advance(1);
    expect((await cache.get(KEY, descriptor, 60_000, load)).token.accessToken).toBe('scheduled');
    expect(reads()).toBe(before + 2);
    // Fresh again: no more reads.
    await cache.get(KEY, descriptor, 60_000, load);
    expect(reads()).toBe(before + 2);
  });

  it('records the hit for the schedule before answering', async () => {
    const { store, cache, load } = setup();
    await cache.get(KEY, descriptor, 60_000, load);
    // A touch that takes a turn of the event loop to be written, as a DynamoDB call does.
    let written = 0;
    const touch = store.touch.bind(store);
    store.touch = async (key) => {
      await settle();
      await touch(key);
      written += 1;
    };
    await cache.get(KEY, descriptor, 60_000, load);
    expect(written).toBe(1);
  });

  it('still obtains a token within the request when the held one no longer meets minTtl', async () => {
    const { clock, cache, load, loads } = setup();
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 30_000);
    expect(await cache.get(KEY, descriptor, 60_000, load)).toMatchObject({
      cached: false,
      token: { accessToken: 'tok-2' },
    });
    expect(loads()).toBe(2);
  });
});
