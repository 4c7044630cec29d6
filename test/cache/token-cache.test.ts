import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../lib/cache/key.ts';
import {
  CONSENT_REQUIRED_CACHE_MS,
  FORCED_REFRESH_INTERVAL_MS,
  TokenCache,
} from '../../lib/cache/token-cache.ts';
import type { CachedToken, TokenDescriptor } from '../../lib/cache/types.ts';
import { ConsentRequired, UpstreamError } from '../../lib/errors.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { manualClock, recordingLogger } from '../support/shared-cache-fixtures.ts';

const descriptor: TokenDescriptor = {
  profile: 'p',
  issuer: 'i',
  subject: 's',
  audience: 'a',
  grant: 'jwt-bearer',
  scopes: ['read'],
  endpoint: 'POST https://idp.example.com/token',
  variant: '',
};
const KEY = cacheKey(descriptor);
const HOUR = 3_600_000;

/** A token named `accessToken`, obtained now and living `lifeMs`. */
function tokenNow(clock: { now: () => number }, accessToken: string, lifeMs = HOUR): CachedToken {
  const now = clock.now();
  return { accessToken, tokenType: 'Bearer', expiresAt: now + lifeMs, scope: undefined, obtainedAt: now };
}

function loaderAt(clock: { now: () => number }, lifeMs = HOUR) {
  let calls = 0;
  const load = async (): Promise<CachedToken> => {
    calls += 1;
    await new Promise((r) => setImmediate(r));
    return tokenNow(clock, `tok-${calls}`, lifeMs);
  };
  return { load, calls: () => calls };
}

describe('cacheKey', () => {
  it('ignores scope order and duplicates, and differs by every part', () => {
    expect(cacheKey({ ...descriptor, scopes: ['b', 'a', 'a'] })).toBe(
      cacheKey({ ...descriptor, scopes: ['a', 'b'] }),
    );
    expect(KEY).toMatch(/^[0-9a-f]{64}$/);
    for (const part of ['profile', 'issuer', 'subject', 'audience', 'grant', 'endpoint', 'variant'] as const)
      expect(cacheKey({ ...descriptor, [part]: 'other' })).not.toBe(KEY);
    expect(cacheKey({ ...descriptor, scopes: [] })).not.toBe(KEY);
  });
});

describe('TokenCache', () => {
  it('serves a second request from memory', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock);
    const first = await cache.get(KEY, descriptor, 60_000, load);
    const second = await cache.get(KEY, descriptor, 60_000, load);
    expect(first.cached).toBe(false);
    expect(second).toEqual({ token: first.token, cached: true });
    expect(calls()).toBe(1);
  });

  it('makes one upstream request for 100 concurrent callers', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock);
    const results = await Promise.all(
      Array.from({ length: 100 }, () => cache.get(KEY, descriptor, 60_000, load)),
    );
    expect(calls()).toBe(1);
    expect(new Set(results.map((r) => r.token.accessToken))).toEqual(new Set(['tok-1']));
  });

  it('shares a failure with the waiters but does not cache it', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    let calls = 0;
    const failing = async (): Promise<CachedToken> => {
      calls += 1;
      await new Promise((r) => setImmediate(r));
      throw new UpstreamError('ERR_UPSTREAM_UNAVAILABLE', 'down');
    };
    const results = await Promise.allSettled([1, 2, 3].map(() => cache.get(KEY, descriptor, 0, failing)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(calls).toBe(1);
    await expect(cache.get(KEY, descriptor, 0, failing)).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_UNAVAILABLE',
    });
    expect(calls).toBe(2);
  });

  it('serves a stale token at once and refreshes it in the background, once', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now, refreshMargin: 300 });
    const { load, calls } = loaderAt(clock);
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 200_000); // 200 s left: stale, still above minTtl
    const served = await Promise.all([1, 2, 3].map(() => cache.get(KEY, descriptor, 60_000, load)));
    expect(served.map((r) => [r.token.accessToken, r.cached])).toEqual([
      ['tok-1', true],
      ['tok-1', true],
      ['tok-1', true],
    ]);
    // The background refresh ends on its own time: wait for it (bounded), not for a fixed delay.
    for (let i = 0; i < 200 && cache.peek(KEY)?.accessToken !== 'tok-2'; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(calls()).toBe(2);
    expect((await cache.get(KEY, descriptor, 60_000, load)).token.accessToken).toBe('tok-2');
  });

  it('makes the caller wait when the token has less than minTtl left', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock);
    await cache.get(KEY, descriptor, 60_000, load);
    clock.advance(HOUR - 30_000);
    const result = await cache.get(KEY, descriptor, 60_000, load);
    expect(result).toMatchObject({ cached: false, token: { accessToken: 'tok-2' } });
    expect(calls()).toBe(2);
  });

  it('fetches a fresh token, once, when the cached one has less than minTtl left (3000 s on a 3600 s token held 1700 s)', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock, HOUR);
    await cache.get(KEY, descriptor, 3_000_000, load);
    clock.advance(1_700_000); // 1900 s left

    const answers = await Promise.all(
      Array.from({ length: 10 }, () => cache.get(KEY, descriptor, 3_000_000, load)),
    );

    expect(calls()).toBe(2);
    for (const answer of answers) {
      expect(answer.token.accessToken).toBe('tok-2');
      expect(answer.token.expiresAt - clock.now()).toBeGreaterThanOrEqual(3_000_000);
    }
    // A caller content with the default minTtl is served the fresh token from memory.
    expect((await cache.get(KEY, descriptor, 60_000, load)).cached).toBe(true);
    expect(calls()).toBe(2);
  });

  it('serves the freshest token when the provider lifetime is below minTtl, asking once per half lifetime', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock, 600_000); // the provider grants 10 minutes
    const first = await cache.get(KEY, descriptor, 3_000_000, load);
    expect(first).toMatchObject({ cached: false, token: { accessToken: 'tok-1' } });

    for (let second = 10; second < 300; second += 10) {
      clock.advance(10_000);
      expect((await cache.get(KEY, descriptor, 3_000_000, load)).token.accessToken).toBe('tok-1');
    }
    expect(calls(), 'no upstream request while the token has at least half its life').toBe(1);

    clock.advance(10_000); // 300 s left of 600 s: half its life
    expect((await cache.get(KEY, descriptor, 3_000_000, load)).token.accessToken).toBe('tok-1');
    clock.advance(1);
    const refreshed = await cache.get(KEY, descriptor, 3_000_000, load);
    expect(refreshed).toMatchObject({ cached: false, token: { accessToken: 'tok-2' } });
    expect(refreshed.token.expiresAt - clock.now()).toBe(600_000);
    expect(calls()).toBe(2);
  });

  it('asks again for a caller whose minTtl the token from a joined flight does not meet', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    // The shared store holds an hour token with 20 minutes left: enough for minTtl 60 s, not for 30 minutes.
    shared.tokens.set(KEY, {
      ...tokenNow(clock, 'shared'),
      obtainedAt: clock.now() - 2_400_000,
      expiresAt: clock.now() + 1_200_000,
    });
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared, refreshMargin: 60 });
    const { load, calls } = loaderAt(clock);

    const [small, large] = await Promise.all([
      cache.get(KEY, descriptor, 60_000, load),
      cache.get(KEY, descriptor, 1_800_000, load),
    ]);

    expect(small.token.accessToken).toBe('shared');
    expect(large.token.accessToken).toBe('tok-1');
    expect(calls()).toBe(1);
  });

  it(`forces at most one refresh per ${FORCED_REFRESH_INTERVAL_MS / 1000} s for a token its callers report refused`, async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock);
    await cache.get(KEY, descriptor, 0, load);
    const refused = (name: string) => (token: CachedToken) => token.accessToken === name;

    const reports = await Promise.all(
      Array.from({ length: 10 }, () => cache.get(KEY, descriptor, 0, load, refused('tok-1'))),
    );
    expect(new Set(reports.map((r) => r.token.accessToken))).toEqual(new Set(['tok-2']));
    expect(calls()).toBe(2);

    // tok-2 refused too, but within the interval: served as it is, no upstream request.
    clock.advance(FORCED_REFRESH_INTERVAL_MS - 1);
    expect((await cache.get(KEY, descriptor, 0, load, refused('tok-2'))).token.accessToken).toBe('tok-2');
    expect(calls()).toBe(2);
    clock.advance(1);
    expect((await cache.get(KEY, descriptor, 0, load, refused('tok-2'))).token.accessToken).toBe('tok-3');
    expect(calls()).toBe(3);
  });

  it(`remembers consent_required for ${CONSENT_REQUIRED_CACHE_MS / 1000} s`, async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    let calls = 0;
    const needsConsent = async (): Promise<CachedToken> => {
      calls += 1;
      throw new ConsentRequired({ profile: 'p', subject: 's', consentUrl: 'https://b/consent' });
    };
    await expect(cache.get(KEY, descriptor, 0, needsConsent)).rejects.toBeInstanceOf(ConsentRequired);
    clock.advance(CONSENT_REQUIRED_CACHE_MS - 1);
    await expect(cache.get(KEY, descriptor, 0, needsConsent)).rejects.toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      consentUrl: 'https://b/consent',
    });
    expect(calls).toBe(1);
    clock.advance(1);
    await expect(cache.get(KEY, descriptor, 0, needsConsent)).rejects.toBeInstanceOf(ConsentRequired);
    expect(calls).toBe(2);
  });

  it('refresh() ignores remembered consent and only refreshes when stale unless forced', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = loaderAt(clock);
    await cache.get(KEY, descriptor, 0, load);
    expect((await cache.refresh(KEY, descriptor, load)).cached).toBe(true);
    expect(calls()).toBe(1);
    expect((await cache.refresh(KEY, descriptor, load, true)).cached).toBe(false);
    clock.advance(HOUR - 100_000);
    expect((await cache.refresh(KEY, descriptor, load)).token.accessToken).toBe('tok-3');
  });

  it('keeps at most maxEntries tokens', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now, maxEntries: 2 });
    const { load } = loaderAt(clock);
    for (const subject of ['a', 'b', 'c']) await cache.get(subject, { ...descriptor, subject }, 0, load);
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.peek('c')).toBeDefined();
  });
});

describe('TokenCache with a shared store', () => {
  it('takes a fresh token from the shared store on a local miss', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    shared.tokens.set(KEY, tokenNow(clock, 'shared'));
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared });
    const { load, calls } = loaderAt(clock);
    const result = await cache.get(KEY, descriptor, 60_000, load);
    expect(result).toMatchObject({ cached: true, token: { accessToken: 'shared' } });
    expect(calls()).toBe(0);
    await cache.get(KEY, descriptor, 60_000, load);
    expect(shared.calls).toEqual(['get', 'touch']);
  });

  it('takes the lease, loads, and puts the token', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared, holder: 'me' });
    const { load } = loaderAt(clock);
    await cache.get(KEY, descriptor, 60_000, load);
    expect(shared.calls).toEqual(['get', 'acquireLease', 'get', 'getConsentRequired', 'put']);
    expect(shared.tokens.get(KEY)?.accessToken).toBe('tok-1');
    expect(shared.leases.size).toBe(0);
  });

  it('reads once more after winning the lease and uses a token stored in between', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    const acquire = shared.acquireLease.bind(shared);
    // Another instance stores its token and frees the lease between our first read and our lease.
    shared.acquireLease = async (...args: Parameters<typeof acquire>) => {
      shared.tokens.set(KEY, tokenNow(clock, 'theirs'));
      return acquire(...args);
    };
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared, holder: 'me' });
    const { load, calls } = loaderAt(clock);
    const result = await cache.get(KEY, descriptor, 60_000, load);
    expect(result).toMatchObject({ cached: true, token: { accessToken: 'theirs' } });
    expect(calls()).toBe(0);
    expect(shared.leases.size).toBe(0);
  });

  it("waits for the lease holder's token instead of calling upstream", async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    shared.leases.set(KEY, { holder: 'other', until: clock.now() + 10_000 });
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      clock.advance(ms);
      if (waits.length === 3) shared.tokens.set(KEY, tokenNow(clock, 'theirs'));
    };
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared, sleep });
    const { load, calls } = loaderAt(clock);
    const result = await cache.get(KEY, descriptor, 60_000, load);
    expect(result).toMatchObject({ cached: true, token: { accessToken: 'theirs' } });
    expect(calls()).toBe(0);
    expect(waits).toEqual([25, 50, 100]);
  });

  it('takes over when the holder’s lease lapses', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    shared.leases.set(KEY, { holder: 'crashed', until: clock.now() + 1_000 });
    const sleep = async (ms: number) => clock.advance(ms);
    const cache = new TokenCache({
      clock: clock.now,
      sharedStore: shared,
      sleep,
      holder: 'me',
      leaseMs: 1_000,
    });
    const { load, calls } = loaderAt(clock);
    const result = await cache.get(KEY, descriptor, 60_000, load);
    expect(result).toMatchObject({ cached: false, token: { accessToken: 'tok-1' } });
    expect(calls()).toBe(1);
    expect(shared.tokens.get(KEY)?.accessToken).toBe('tok-1');
  });

  it('releases the lease when loading fails', async () => {
    const clock = manualClock();
    const shared = memorySharedStore(clock.now);
    const cache = new TokenCache({ clock: clock.now, sharedStore: shared, holder: 'me' });
    const fail = async (): Promise<CachedToken> => {
      throw new UpstreamError('ERR_UPSTREAM_TIMEOUT', 'slow');
    };
    await expect(cache.get(KEY, descriptor, 0, fail)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(shared.calls).toEqual(['get', 'acquireLease', 'get', 'getConsentRequired', 'releaseLease']);
    expect(shared.leases.size).toBe(0);
  });

  it('still serves when the shared store fails', async () => {
    const clock = manualClock();
    const logger = recordingLogger();
    const broken = memorySharedStore(clock.now);
    const boom = async () => {
      throw new Error('dynamodb down');
    };
    Object.assign(broken, { get: boom, acquireLease: boom, put: boom, touch: boom });
    const cache = new TokenCache({ clock: clock.now, sharedStore: broken, logger });
    const { load, calls } = loaderAt(clock);
    expect((await cache.get(KEY, descriptor, 0, load)).token.accessToken).toBe('tok-1');
    expect((await cache.get(KEY, descriptor, 0, load)).cached).toBe(true);
    expect(calls()).toBe(1);
    expect(logger.warnings().map((l) => l.message)).toEqual([
      'could not store the token in the shared cache',
    ]);
  });
});
