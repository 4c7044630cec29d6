/**
 * When a shared token is due for the scheduled refresh, and which share of the keys a
 * refresh worker owns.
 *
 * Every shared item that holds a token carries `dueAt` (epoch ms: the moment the token
 * enters its refresh margin) and `dueSlot` (0 to {@link DUE_SLOTS} - 1, from its key's
 * hash). Both are the keys of the table's sparse global secondary index
 * {@link DUE_INDEX}: a refresh run Queries `dueSlot = s AND dueAt <= now` for the slots
 * of its shard and reads only what is due, whatever the size of the table. Items without
 * `dueSlot` (leases only, consent records, entries nobody used lately) are not in the
 * index. Slots are fixed, so changing `refresh.shards` never rewrites an item: shard `i`
 * of `n` owns the slots `s` with `s % n === i`.
 *
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-indexes-general-sparse-indexes.html
 */
import type { AttributeDefinition, GlobalSecondaryIndex } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import type { BrokerConfig } from '../config/types.ts';
import type { CachedToken, Shard } from './types.ts';

/** Kept importable from here, beside the functions that take it. */
export type { Shard } from './types.ts';

/** The table's global secondary index of due tokens (serverless.yml `CacheTable`). */
export const DUE_INDEX = 'due';

/**
 * Index partitions. A power of two above any sensible shard count; each refresh run
 * costs one Query per slot, and each slot takes 1/64 of the index's writes.
 */
export const DUE_SLOTS = 64;

/** The most refresh workers a schedule may fan out to (one slot each at the most). */
export const MAX_SHARDS = DUE_SLOTS;

/** The whole key space: one worker. */
export const ALL_KEYS: Shard = { index: 0, count: 1 };

/**
 * Whether `shard` is a valid share: whole numbers, `1 <= count <= MAX_SHARDS`, `0 <= index < count`.
 */
export function isShard(shard: Shard): boolean {
  const { index, count } = shard;
  return (
    Number.isInteger(index) &&
    Number.isInteger(count) &&
    count >= 1 &&
    count <= MAX_SHARDS &&
    index >= 0 &&
    index < count
  );
}

/** The index slot of the item `pk` (base64url SHA-256 of its cache key): its first 32 bits mod {@link DUE_SLOTS}. */
export function dueSlot(pk: string): number {
  const bytes = Buffer.from(pk.slice(0, 8), 'base64url');
  // Not a key this module made (too short to hold 32 bits): hash it again.
  const head = bytes.byteLength >= 4 ? bytes : createHash('sha256').update(pk, 'utf8').digest();
  return head.readUInt32BE(0) % DUE_SLOTS;
}

/**
 * The slots shard `index` of `count` owns: every slot belongs to exactly one shard.
 *
 * @throws TypeError when `shard` is not valid (see {@link isShard}).
 */
export function slotsOf(shard: Shard): number[] {
  if (!isShard(shard)) {
    throw new TypeError(
      `shard must be whole numbers with 0 <= index < count <= ${MAX_SHARDS}, got ${shard.index} of ${shard.count}`,
    );
  }
  return Array.from({ length: DUE_SLOTS }, (_, slot) => slot).filter(
    (slot) => slot % shard.count === shard.index,
  );
}

/**
 * When `token` enters a refresh margin of `marginMs`: `marginMs` before its expiry, the
 * margin capped at half the token's life (as the cache's own staleness test does).
 */
export function dueAt(token: CachedToken, marginMs: number): number {
  const life = token.expiresAt - token.obtainedAt;
  return Math.floor(token.expiresAt - Math.max(0, Math.min(marginMs, life / 2)));
}

/**
 * The index as CreateTable takes it (serverless.yml's `CacheTable` says the same; the
 * template test holds them equal). It carries what the schedule lists, and not the lease,
 * so taking and giving up a lease never writes the index.
 */
export function dueIndexDefinition(): GlobalSecondaryIndex {
  return {
    IndexName: DUE_INDEX,
    KeySchema: [
      { AttributeName: 'dueSlot', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ],
    Projection: {
      ProjectionType: 'INCLUDE',
      NonKeyAttributes: [
        'key',
        'profile',
        'issuer',
        'subject',
        'audience',
        'grant',
        'scopes',
        'endpoint',
        'variant',
        'token',
        'expiresAt',
        'obtainedAt',
        'lastUsedAt',
      ],
    },
  };
}

/** The attribute definitions the table needs: its key and the index's keys. */
export function cacheTableAttributes(): AttributeDefinition[] {
  return [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'dueSlot', AttributeType: 'N' },
    { AttributeName: 'dueAt', AttributeType: 'N' },
  ];
}

/**
 * The refresh margin of each profile's tokens, milliseconds: its `refresh.before`, else
 * `cache.refreshMargin` (what the schedule refreshes by, and what `dueAt` is set from).
 */
export function refreshMarginOf(config: BrokerConfig): (profile: string) => number {
  return (profile) => {
    const section = Object.hasOwn(config.profiles, profile) ? config.profiles[profile]?.refresh : undefined;
    return (section?.before ?? config.cache.refreshMargin) * 1000;
  };
}

/** Whether the item `pk` belongs to `shard`. */
export function inShard(pk: string, shard: Shard): boolean {
  return dueSlot(pk) % shard.count === shard.index;
}
