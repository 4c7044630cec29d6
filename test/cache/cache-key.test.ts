import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cacheKey, computeCacheKey, DERIVED_KEYS_LIMIT } from '../../lib/cache/key.ts';
import type { TokenDescriptor } from '../../lib/cache/types.ts';
import {
  resolveRequest,
  resolveRequestAfresh,
  RESOLVED_LIMIT,
  type ResolvedRequest,
} from '../../lib/broker/request.ts';
import { parseConfig } from '../../lib/config/parse.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { RequestError } from '../../lib/errors.ts';
import { config, yamlProfile } from '../config/helpers.ts';

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

/** Two versions of one configuration, as a reload gives them: every profile a new frozen object. */
function loadVersion(headers: string): BrokerConfig {
  return parseConfig(
    config(
      yamlProfile('demo', {
        subject: 'alice@example.com',
        subjects: "['*@example.com', 'svc-*']",
        scope: 'read write admin',
        headers,
      }),
      yamlProfile('client', { grant: 'client-assertion', scope: 'read write' }),
    ),
    'c.yaml',
  );
}

/** What a resolution comes to: its answer and key, or its error's code and message. */
function outcome(resolve: () => ResolvedRequest): unknown {
  try {
    const r = resolve();
    return {
      subject: r.subject,
      scopes: r.scopes,
      minTtlMs: r.minTtlMs,
      descriptor: r.descriptor,
      key: cacheKey(r.descriptor),
    };
  } catch (err) {
    if (!(err instanceof RequestError)) throw err;
    return { code: err.code, message: err.message };
  }
}

describe('request descriptor, derived once per (profile, subject, scope)', () => {
  const versions = [
    loadVersion('{ X-Tenant: acme }'),
    loadVersion('{ X-Tenant: other }'),
    loadVersion("{ X-Api-Key: 'env:API_KEY' }"),
  ];
  const request = fc.record(
    {
      version: fc.constantFrom(0, 1, 2),
      profile: fc.constantFrom('demo', 'client'),
      subject: fc.constantFrom<unknown>(
        'alice@example.com',
        'bob@example.com',
        'svc-1',
        'mallory@evil.test',
        'client-1',
        '',
        7,
        'x'.repeat(2000),
      ),
      scope: fc.constantFrom<unknown>('read', 'write read', 'read  read', 'admin', 'delete', '', 3),
      minTtl: fc.constantFrom<unknown>(0, 60, 86_401, -1, '60'),
    },
    { requiredKeys: ['version', 'profile'] },
  );

  it('never disagrees with the full derivation, over any sequence of requests and reloads', () => {
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 40 }), (sequence) => {
        for (const { version, profile: name, ...fields } of sequence) {
          const profile = versions[version]!.profiles[name]!;
          expect(outcome(() => resolveRequest(profile, fields))).toEqual(
            outcome(() => resolveRequestAfresh(profile, fields)),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('answers a request seen before with the same descriptor, a reloaded profile with its own', () => {
    const [first, second] = [versions[0]!.profiles['demo']!, versions[1]!.profiles['demo']!];
    const a = resolveRequest(first, { subject: 'bob@example.com', scope: 'write read' });
    const b = resolveRequest(first, { subject: 'bob@example.com', scope: 'write read', minTtl: 60 });
    expect(b.descriptor).toBe(a.descriptor);
    expect(b.minTtlMs).toBe(60_000);
    expect(Object.isFrozen(a.descriptor)).toBe(true);
    const reloaded = resolveRequest(second, { subject: 'bob@example.com', scope: 'write read' });
    expect(reloaded.descriptor).not.toBe(a.descriptor);
    expect(reloaded.descriptor.variant).not.toBe(a.descriptor.variant);
    expect(cacheKey(reloaded.descriptor)).toBe(
      computeCacheKey(
        resolveRequestAfresh(second, { subject: 'bob@example.com', scope: 'write read' }).descriptor,
      ),
    );
    expect(cacheKey(reloaded.descriptor)).not.toBe(cacheKey(a.descriptor));
  });

  it('stays right past its bound, and resolves a profile that is not frozen afresh each time', () => {
    const profile = versions[0]!.profiles['demo']!;
    const first = resolveRequest(profile, { subject: 'svc-1' });
    for (let i = 0; i <= RESOLVED_LIMIT + 10; i++) {
      const subject = `user-${i}@example.com`;
      expect(resolveRequest(profile, { subject }).descriptor).toEqual(
        resolveRequestAfresh(profile, { subject }).descriptor,
      );
    }
    expect(resolveRequest(profile, { subject: 'svc-1' }).descriptor).toEqual(first.descriptor);
    const open = { ...profile, scopes: [...profile.scopes] };
    const before = resolveRequest(open, { scope: 'read' }).descriptor;
    open.scopes.length = 0;
    expect(() => resolveRequest(open, { scope: 'read' })).toThrow(RequestError);
    expect(before.scopes).toEqual(['read']);
  });
});
