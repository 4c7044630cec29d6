/**
 * `TokenCache.hit`: the part of `get` that needs no wait. It serves exactly the tokens `get`
 * would serve from memory, and nothing else; upstream loads are counted.
 */
import { describe, expect, it } from 'vitest';
import { cacheKey } from '../../lib/cache/key.ts';
import { TokenCache } from '../../lib/cache/token-cache.ts';
import type { CachedToken, TokenDescriptor } from '../../lib/cache/types.ts';
import { ConsentRequired } from '../../lib/errors.ts';
import { countingUpstream, manualClock } from '../support/shared-cache-fixtures.ts';

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
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('TokenCache.hit', () => {
  it('serves the held token get would serve, and nothing for a key it does not hold', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = countingUpstream(clock);
    expect(cache.hit(KEY, descriptor, 0, load)).toBeUndefined();
    const { token } = await cache.get(KEY, descriptor, 0, load);
    expect(cache.hit(KEY, descriptor, MINUTE, load)).toBe(token);
    expect((await cache.get(KEY, descriptor, MINUTE, load)).token).toBe(token);
    expect(calls()).toBe(1);
  });

  it('serves nothing for a token short of the minTtl asked, which get replaces', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load, calls } = countingUpstream(clock);
    await cache.get(KEY, descriptor, 0, load);
    clock.advance(40 * MINUTE);
    expect(cache.hit(KEY, descriptor, 30 * MINUTE, load)).toBeUndefined();
    expect(calls()).toBe(1);
    expect((await cache.get(KEY, descriptor, 30 * MINUTE, load)).token.accessToken).toBe('tok-2');
  });

  it('serves nothing while consent_required is remembered for the key, even with a token held', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now });
    const { load } = countingUpstream(clock);
    await cache.get(KEY, descriptor, 0, load);
    clock.advance(40 * MINUTE);
    const needsConsent = async (): Promise<CachedToken> => {
      throw new ConsentRequired({ profile: 'p', subject: 's', consentUrl: 'https://b/consent' });
    };
    await expect(cache.get(KEY, descriptor, 30 * MINUTE, needsConsent)).rejects.toBeInstanceOf(
      ConsentRequired,
    );
    expect(cache.hit(KEY, descriptor, 0, load)).toBeUndefined();
    await expect(cache.get(KEY, descriptor, 0, load)).rejects.toBeInstanceOf(ConsentRequired);
  });

  it('serves nothing without background work, where get reads the shared store first', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now, backgroundWork: false });
    const { load } = countingUpstream(clock);
    await cache.get(KEY, descriptor, 0, load);
    expect(cache.hit(KEY, descriptor, 0, load)).toBeUndefined();
  });

  it('serves a stale token and starts one background refresh for it', async () => {
    const clock = manualClock();
    const cache = new TokenCache({ clock: clock.now, refreshMargin: 300 });
    const { load, calls } = countingUpstream(clock);
    const { token } = await cache.get(KEY, descriptor, 0, load);
    clock.advance(HOUR - 4 * MINUTE);
    expect(cache.hit(KEY, descriptor, 0, load)).toBe(token);
    expect(cache.hit(KEY, descriptor, 0, load)).toBe(token);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls()).toBe(2);
    expect(cache.hit(KEY, descriptor, 0, load)?.accessToken).toBe('tok-2');
  });
});
