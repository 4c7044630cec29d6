import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cacheKey, computeCacheKey, DERIVED_KEYS_LIMIT } from '../../lib/cache/key.ts';
import type { TokenDescriptor } from '../../lib/cache/types.ts';

const BASE: TokenDescriptor = {
  profile: 'demo',
  issuer: 'demo-client',
  subject: 'alice@example.com',
  audience: 'https://idp.example/token',
  grant: 'jwt-bearer',
  scopes: ['write', 'read', 'read'],
  endpoint: 'POST https://idp.example/token',
  variant: '',
};

/**
 * Descriptors from small pools, so that a run repeats descriptors (remembered keys are
 * used), shares profile, subject and scopes between descriptors that differ elsewhere (a
 * profile changed on reload), and has subjects and names with the separators in them.
 */
const descriptor: fc.Arbitrary<TokenDescriptor> = fc.record(
  {
    profile: fc.constantFrom('demo', 'other', 'a\nb', ''),
    issuer: fc.constantFrom('demo-client', 'client-2'),
    subject: fc.constantFrom('alice@example.com', 'bob@example.com', '2:ab', 'a\n1:b', ''),
    audience: fc.constantFrom('https://idp.example/token', 'a b'),
    grant: fc.constantFrom('jwt-bearer', 'client-assertion', 'token-exchange'),
    scopes: fc.array(fc.constantFrom('read', 'write', 'admin', 'r w'), { maxLength: 4 }),
    endpoint: fc.constantFrom('POST https://idp.example/token', 'POST https://idp.example/v2/token'),
    variant: fc.constantFrom('', 'ab12', 'cd34'),
    dpopJkt: fc.constantFrom('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', 'other-jkt', undefined),
  },
  { requiredKeys: ['profile', 'issuer', 'subject', 'audience', 'grant', 'scopes', 'endpoint', 'variant'] },
);

describe('cache key, derived once per descriptor', () => {
  it('is the key the shared store holds: the same SHA-256 as before keys were remembered', () => {
    // Computed by the key function as it was before (commit e475c97), for entries already stored.
    const stored = '95e93b13b5c9b638d3a6cd1b17bf41ca31bade531e6723dcbe6c7bac9f87d024';
    expect(computeCacheKey(BASE)).toBe(stored);
    expect(cacheKey(BASE)).toBe(stored);
    expect(cacheKey({ ...BASE, scopes: ['write', 'read', 'read'] })).toBe(stored);
    const bound = { ...BASE, scopes: ['read'], dpopJkt: 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs' };
    expect(cacheKey(bound)).toBe('56a78e1c38f8dc01036c0f4f13f3c60bea7a27d38382a03bb416433ffcd49e2a');
  });

  it('never disagrees with the key computed afresh, over any sequence of descriptors', () => {
    fc.assert(
      fc.property(fc.array(descriptor, { minLength: 1, maxLength: 60 }), (sequence) => {
        for (const d of sequence) expect(cacheKey(d)).toBe(computeCacheKey(d));
      }),
      { numRuns: 300 },
    );
  });

  it('tells apart descriptors that differ only where the remembered place does not look', () => {
    const first = cacheKey(BASE);
    for (const change of [
      { variant: 'ab12' },
      { endpoint: 'POST https://idp.example/v2/token' },
      { issuer: 'client-2' },
      { audience: 'other' },
      { grant: 'client-assertion' },
      { dpopJkt: undefined },
    ]) {
      const changed = { ...BASE, ...change };
      expect(cacheKey(changed)).toBe(computeCacheKey(changed));
      expect(cacheKey(changed)).not.toBe(first);
    }
    expect(cacheKey(BASE)).toBe(first);
  });

  it('follows a descriptor changed after its key was derived, and stays right past its bound', () => {
    const scopes = ['read'];
    const d = { ...BASE, scopes };
    const before = cacheKey(d);
    scopes.push('write');
    expect(cacheKey(d)).toBe(computeCacheKey(d));
    expect(cacheKey(d)).not.toBe(before);
    for (let i = 0; i <= DERIVED_KEYS_LIMIT + 10; i++) {
      const other = { ...BASE, subject: `user-${i}@example.com` };
      expect(cacheKey(other)).toBe(computeCacheKey(other));
    }
    expect(cacheKey({ ...BASE, scopes: ['read'] })).toBe(before);
  });
});
