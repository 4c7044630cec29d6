import { hash } from 'node:crypto';
import type { TokenDescriptor } from './types.ts';

/** Bumped when the key's layout changes; every older entry then reads as a miss. */
const KEY_VERSION = 'v2';

/**
 * The cache key of a token: SHA-256 (hex) over its whole descriptor (every field, by
 * name; scopes sorted and without duplicates). The in-process cache and the shared store
 * use the same key. It carries no secret and reveals no subject. A field added to
 * {@link TokenDescriptor} is part of the key at once; while such a field is absent
 * (undefined), keys made before it existed stay the same.
 */
export function cacheKey(descriptor: TokenDescriptor): string {
  const fields: Record<string, unknown> = { ...descriptor, scopes: [...new Set(descriptor.scopes)].sort() };
  const material = JSON.stringify([KEY_VERSION, Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))]);
  return hash('sha256', material, 'hex');
}

/**
 * SHA-256 (hex) of named values (headers, parameters), order-free; `''` when there are
 * none, so a profile without them adds nothing to its key.
 */
export function digestOf(groups: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  const entries = Object.entries(groups)
    .map(([group, values]) => [group, Object.entries(values).sort(([a], [b]) => (a < b ? -1 : 1))] as const)
    .filter(([, values]) => values.length > 0)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length === 0 ? '' : hash('sha256', JSON.stringify(entries), 'hex');
}
