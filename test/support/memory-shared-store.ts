import { dueAt, inShard } from '../../lib/cache/due.ts';
import { itemKey } from '../../lib/cache/dynamodb-item.ts';
import { DEFAULT_REFRESH_MARGIN } from '../../lib/cache/token-cache.ts';
import type {
  CachedToken,
  SharedConsent,
  SharedEntry,
  SharedTokenStore,
  TokenDescriptor,
} from '../../lib/cache/types.ts';

/** An in-memory SharedTokenStore with a real, fenced lease, for tests of the cache's use of it. */
export function memorySharedStore(
  clock: () => number,
  marginMs = DEFAULT_REFRESH_MARGIN * 1000,
): SharedTokenStore & {
  readonly calls: string[];
  tokens: Map<string, CachedToken>;
  leases: Map<string, { holder: string; until: number }>;
  consents: Map<string, SharedConsent>;
} {
  const tokens = new Map<string, CachedToken>();
  const leases = new Map<string, { holder: string; until: number }>();
  const consents = new Map<string, SharedConsent>();
  const descriptors = new Map<string, TokenDescriptor>();
  const used = new Map<string, number>();
  const forced = new Map<string, number>();
  const proofs = new Map<string, number>();
  const calls: string[] = [];
  return {
    calls,
    tokens,
    leases,
    consents,
    async get(key) {
      calls.push('get');
      return tokens.get(key);
    },
    async put(key, descriptor, token, holder) {
      calls.push('put');
      const lease = leases.get(key);
      const stored = tokens.get(key);
      const accepted =
        holder === undefined
          ? stored === undefined || stored.obtainedAt <= token.obtainedAt
          : lease?.holder === holder || (lease === undefined && stored === undefined);
      if (!accepted) return false;
      tokens.set(key, token);
      descriptors.set(key, descriptor);
      consents.delete(key);
      if (holder !== undefined) leases.delete(key);
      return true;
    },
    async renewLease(key, holder, leaseMs) {
      calls.push('renewLease');
      if (leases.get(key)?.holder !== holder) return false;
      leases.set(key, { holder, until: clock() + leaseMs });
      return true;
    },
    async getConsentRequired(key) {
      calls.push('getConsentRequired');
      const consent = consents.get(key);
      return consent && consent.until > clock() ? consent : undefined;
    },
    async putConsentRequired(key, descriptor, consent) {
      calls.push('putConsentRequired');
      consents.set(key, consent);
      descriptors.set(key, descriptor);
    },
    async acquireLease(key, descriptor, holder, leaseMs) {
      calls.push('acquireLease');
      const lease = leases.get(key);
      if (lease && lease.until > clock() && lease.holder !== holder) return false;
      leases.set(key, { holder, until: clock() + leaseMs });
      descriptors.set(key, descriptor);
      return true;
    },
    async claimForcedRefresh(key, holder, leaseMs, obtainedAt, intervalMs) {
      calls.push('claimForcedRefresh');
      const now = clock();
      const stored = tokens.get(key);
      const lease = leases.get(key);
      const last = forced.get(key);
      if (stored === undefined || stored.obtainedAt !== obtainedAt) return 'busy';
      if (lease !== undefined && lease.until >= now) return 'busy';
      if (last !== undefined && last > now - intervalMs) return 'limited';
      leases.set(key, { holder, until: now + leaseMs });
      forced.set(key, now);
      return 'claimed';
    },
    async releaseLease(key, holder) {
      calls.push('releaseLease');
      if (leases.get(key)?.holder === holder) leases.delete(key);
    },
    async claimProof(id, freshUntil) {
      calls.push('claimProof');
      const until = proofs.get(id);
      if (until !== undefined) return false;
      proofs.set(id, freshUntil);
      return true;
    },
    async touch(key) {
      calls.push('touch');
      used.set(key, clock());
    },
    async listDue({ now, usedSince, shard }) {
      const out: SharedEntry[] = [];
      for (const [key, descriptor] of descriptors) {
        const token = tokens.get(key);
        const last = used.get(key);
        if (token === undefined || !inShard(itemKey(key), shard)) continue;
        if (last !== undefined && last >= usedSince && dueAt(token, marginMs) < now)
          out.push({ key, descriptor, token, lastUsedAt: last });
      }
      return out;
    },
  };
}
