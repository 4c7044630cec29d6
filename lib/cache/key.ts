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
 *
 * Derived once per descriptor: the key of a descriptor seen before (every field equal)
 * comes from {@link DERIVED_KEYS_LIMIT} remembered ones, so a hit does not serialise and
 * hash the same descriptor again; the key is always {@link computeCacheKey}'s. A frozen
 * descriptor (and its scopes), which cannot change, keeps its key beside it and is not
 * even compared.
 */
export function cacheKey(descriptor: TokenDescriptor): string {
  // Only frozen descriptors are held there, and frozen stays frozen: no need to ask again.
  const own = keyOfFrozen.get(descriptor);
  if (own !== undefined) return own;
  const frozen = Object.isFrozen(descriptor) && Object.isFrozen(descriptor.scopes);
  const key = rememberedKey(descriptor);
  if (frozen) keyOfFrozen.set(descriptor, key);
  return key;
}

/** Keys of frozen descriptors, held as long as their descriptor is. */
const keyOfFrozen = new WeakMap<TokenDescriptor, string>();

/** The key of `descriptor` from those remembered by {@link derivedIndex}, else computed and remembered. */
function rememberedKey(descriptor: TokenDescriptor): string {
  const index = derivedIndex(descriptor);
  if (index === undefined) return computeCacheKey(descriptor);
  const known = derived.get(index);
  if (known !== undefined && sameDescriptor(known.descriptor, descriptor)) return known.key;
  const key = computeCacheKey(descriptor);
  if (known === undefined && derived.size >= DERIVED_KEYS_LIMIT) derived.delete(derived.keys().next().value!);
  derived.set(index, { descriptor: { ...descriptor, scopes: [...descriptor.scopes] }, key });
  return key;
}

/** The cache key computed afresh: SHA-256 over the JSON of the versioned, sorted descriptor. */
export function computeCacheKey(descriptor: TokenDescriptor): string {
  const fields: Record<string, unknown> = { ...descriptor, scopes: [...new Set(descriptor.scopes)].sort() };
  const material = JSON.stringify([KEY_VERSION, Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1))]);
  return hash('sha256', material, 'hex');
}

/**
 * How many descriptors' keys are remembered (per process; the oldest goes first). A
 * descriptor holds names and digests, no secret; 1024 of them are well under a megabyte.
 */
export const DERIVED_KEYS_LIMIT = 1024;

/** Remembered keys by {@link derivedIndex}, with the descriptor each was computed from. */
const derived = new Map<string, { readonly descriptor: TokenDescriptor; readonly key: string }>();

/**
 * Where a descriptor's key is remembered: profile, subject, scopes and DPoP key. Two
 * descriptors may share a place (a profile changed on reload); the stored descriptor is
 * compared field by field before its key is used, so a shared place only costs a
 * recomputation. Undefined for a descriptor with a field that is not a string (none today),
 * which is never remembered.
 */
function derivedIndex(descriptor: TokenDescriptor): string | undefined {
  for (const value of Object.values(descriptor))
    if (typeof value !== 'string' && value !== undefined && value !== descriptor.scopes) return undefined;
  for (const scope of descriptor.scopes) if (typeof scope !== 'string') return undefined;
  // Scopes hold no whitespace; the subject's length keeps subject and scopes apart.
  return `${descriptor.profile}\n${descriptor.subject.length}:${descriptor.subject}\n${descriptor.scopes.join(' ')}\n${descriptor.dpopJkt ?? ''}`;
}

/** Whether two descriptors have the same fields (the same names, also undefined ones) and values. */
function sameDescriptor(a: TokenDescriptor, b: TokenDescriptor): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  const x = a as unknown as Readonly<Record<string, unknown>>;
  const y = b as unknown as Readonly<Record<string, unknown>>;
  for (const name of names) {
    if (!Object.hasOwn(y, name)) return false;
    if (name === 'scopes') continue;
    if (x[name] !== y[name]) return false;
  }
  if (a.scopes.length !== b.scopes.length) return false;
  for (let i = 0; i < a.scopes.length; i++) if (a.scopes[i] !== b.scopes[i]) return false;
  return true;
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
