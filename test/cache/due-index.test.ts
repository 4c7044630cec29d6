import {
  DescribeTableCommand,
  GetItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemKey } from '../../lib/cache/dynamodb-item.ts';
import {
  ALL_KEYS,
  DUE_INDEX,
  DUE_SLOTS,
  dueAt,
  dueSlot,
  inShard,
  MAX_SHARDS,
  slotsOf,
  type Shard,
} from '../../lib/cache/due.ts';
import { createDynamoDbStore } from '../../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import {
  descriptorFor,
  manualClock,
  randomSealKey,
  tokenAt,
  uniqueKey,
} from '../support/shared-cache-fixtures.ts';

const MINUTE = 60_000;
const MARGIN = 5 * MINUTE;
const USED_WITHIN = 60 * MINUTE;
const sealKey = randomSealKey();
let dynamo: Dynalite;
let client: DynamoDBClient;
/** Items read by the due Queries (their ScannedCount), counted on the client. */
let queried = { requests: 0, items: 0 };
let tables = 0;

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynamo.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (context.commandName === 'QueryCommand') {
        queried.requests += 1;
        queried.items += (result.output as { ScannedCount?: number }).ScannedCount ?? 0;
      }
      return result;
    },
    { step: 'initialize', name: 'countQueries' },
  );
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
});

/** A store on a fresh table, its clock, and a run of the schedule at the clock's time. */
async function fixture(): Promise<{
  store: SharedTokenStore;
  clock: ReturnType<typeof manualClock>;
  table: string;
  run: (shard?: Shard) => Promise<string[]>;
}> {
  const table = `due-${(tables += 1)}`;
  await ensureTable(client, table);
  const clock = manualClock();
  const store = createDynamoDbStore({ client, table, sealKey, clock: clock.now, dueMarginMs: () => MARGIN });
  const run = async (shard: Shard = ALL_KEYS) =>
    (await store.listDue({ now: clock.now(), usedSince: clock.now() - USED_WITHIN, shard })).map(
      (entry) => entry.key,
    );
  return { store, clock, table, run };
}

async function rawItem(table: string, key: string): Promise<Record<string, AttributeValue> | undefined> {
  const { Item } = await client.send(
    new GetItemCommand({ TableName: table, Key: { pk: { S: itemKey(key) } }, ConsistentRead: true }),
  );
  return Item;
}

describe('due index: what a scheduled run reads', () => {
  it('finds a token entering its margin exactly once per run, and not again once refreshed', async () => {
    const { store, clock, run } = await fixture();
    const key = uniqueKey('entering');
    const token = tokenAt(clock.now(), 60 * MINUTE);
    await store.put(key, descriptorFor('a@example.com'), token);

    // Runs at these minutes; the token enters its margin 55 minutes after it was obtained.
    const found: number[] = [];
    let at = 0;
    for (const minute of [1, 20, 54, 55, 56]) {
      clock.advance((minute - at) * MINUTE);
      at = minute;
      const listed = await run();
      expect(listed.filter((k) => k === key).length).toBeLessThanOrEqual(1);
      if (listed.includes(key)) found.push(minute);
      if (minute === 56) {
        // The run refreshes it: the new token is due 55 minutes from now.
        await store.put(key, descriptorFor('a@example.com'), tokenAt(clock.now(), 60 * MINUTE));
      }
    }
    expect(found).toEqual([56]);
    expect(dueAt(token, MARGIN)).toBe(token.expiresAt - MARGIN);
    clock.advance(MINUTE);
    expect(await run()).toEqual([]);
  });

  it('finds an item whose runs were skipped at the next run, however late', async () => {
    const { store, clock, run } = await fixture();
    const late = uniqueKey('late');
    const later = uniqueKey('later');
    await store.put(late, descriptorFor('late@example.com'), tokenAt(clock.now(), 10 * MINUTE));
    await store.put(later, descriptorFor('later@example.com'), tokenAt(clock.now(), 12 * MINUTE));
    // No run for 40 minutes (the schedule was disabled, or every run failed); both were used.
    clock.advance(40 * MINUTE);
    await store.touch(late);
    await store.touch(later);

    expect((await run()).sort()).toEqual([late, later].sort());
    // Not refreshed (the provider is down): still due, so the next run lists them again.
    clock.advance(MINUTE);
    expect((await run()).sort()).toEqual([late, later].sort());
  });

  it('reads only the due items, not the table: items read per run equal items due', async () => {
    const { store, clock, run } = await fixture();
    const due: string[] = [];
    for (let i = 0; i < 60; i++) {
      const key = uniqueKey(`item-${i}`);
      // One in six expires within the margin; the rest later.
      const life = i % 6 === 0 ? 4 * MINUTE : 50 * MINUTE;
      await store.put(
        key,
        descriptorFor(`u${i}@example.com`),
        tokenAt(clock.now() - 10 * MINUTE, life + 10 * MINUTE),
      );
      if (i % 6 === 0) due.push(key);
    }
    queried = { requests: 0, items: 0 };

    expect((await run()).sort()).toEqual(due.sort());
    expect(queried.items).toBe(due.length);
    expect(queried.requests).toBe(DUE_SLOTS);
  });

  it('takes entries nobody used lately out of the index, and a new token puts them back', async () => {
    const { store, clock, table, run } = await fixture();
    const idle = uniqueKey('idle');
    const busy = uniqueKey('busy');
    await store.put(idle, descriptorFor('idle@example.com'), tokenAt(clock.now(), 30 * MINUTE));
    await store.put(busy, descriptorFor('busy@example.com'), tokenAt(clock.now(), 30 * MINUTE));
    clock.advance(70 * MINUTE);
    await store.touch(busy);

    expect(await run()).toEqual([busy]);
    const item = await rawItem(table, idle);
    expect(item?.['dueSlot']).toBeUndefined();
    expect(item?.['dueAt']).toBeUndefined();
    expect(item?.['token']).toBeDefined();
    queried = { requests: 0, items: 0 };
    clock.advance(MINUTE);
    expect(await run()).toEqual([busy]);
    expect(queried.items).toBe(1);

    // Asked for again on demand: the new token is back on the schedule.
    await store.put(idle, descriptorFor('idle@example.com'), tokenAt(clock.now(), 6 * MINUTE));
    await store.touch(idle);
    clock.advance(4 * MINUTE);
    expect((await run()).sort()).toEqual([busy, idle].sort());
  });

  it('never lists a lease without a token', async () => {
    const { store, clock, run } = await fixture();
    await store.acquireLease(uniqueKey('lease'), descriptorFor('l@example.com'), 'holder', 5000);
    clock.advance(10 * MINUTE);
    expect(await run()).toEqual([]);
  });

  it('sets the due time from the profile margin it is given, capped at half the life', async () => {
    const table = `due-${(tables += 1)}`;
    await ensureTable(client, table);
    const clock = manualClock();
    const margins: Record<string, number> = { docusign: 20 * MINUTE };
    const store = createDynamoDbStore({
      client,
      table,
      sealKey,
      clock: clock.now,
      dueMarginMs: (descriptor) => margins[descriptor.profile] ?? MARGIN,
    });
    const long = uniqueKey('long');
    const short = uniqueKey('short');
    const longToken = tokenAt(clock.now(), 60 * MINUTE);
    const shortToken = tokenAt(clock.now(), 10 * MINUTE);
    await store.put(long, descriptorFor('long@example.com'), longToken);
    await store.put(short, descriptorFor('short@example.com'), shortToken);
    expect((await rawItem(table, long))?.['dueAt']).toEqual({ N: String(longToken.expiresAt - 20 * MINUTE) });
    expect((await rawItem(table, short))?.['dueAt']).toEqual({
      N: String(shortToken.expiresAt - 5 * MINUTE),
    });
    expect((await rawItem(table, short))?.['dueSlot']).toEqual({ N: String(dueSlot(itemKey(short))) });
  });
});

describe('shards', () => {
  it('give every index slot to exactly one shard, for every shard count', () => {
    for (let count = 1; count <= MAX_SHARDS; count++) {
      const owned = Array.from({ length: count }, (_, index) => slotsOf({ index, count })).flat();
      expect(owned.sort((a, b) => a - b)).toEqual(Array.from({ length: DUE_SLOTS }, (_, slot) => slot));
    }
  });

  it('cover every key exactly once, on the table', async () => {
    const { store, clock, run } = await fixture();
    const keys: string[] = [];
    for (let i = 0; i < 150; i++) {
      const key = uniqueKey(`k${i}`);
      keys.push(key);
      await store.put(key, descriptorFor(`k${i}@example.com`), tokenAt(clock.now(), 6 * MINUTE));
    }
    clock.advance(4 * MINUTE);
    for (const count of [1, 3, 4, 7, MAX_SHARDS]) {
      const listed: string[] = [];
      for (let index = 0; index < count; index++) {
        const shard = { index, count };
        const mine = await run(shard);
        expect(mine.every((key) => inShard(itemKey(key), shard))).toBe(true);
        listed.push(...mine);
      }
      expect(listed.sort(), `${count} shards`).toEqual([...keys].sort());
    }
  });

  it('refuse a shard outside its count with a TypeError', () => {
    expect(() => slotsOf({ index: 4, count: 4 })).toThrow(
      new TypeError('shard must be whole numbers with 0 <= index < count <= 64, got 4 of 4'),
    );
    expect(() => slotsOf({ index: 0, count: 65 })).toThrow(TypeError);
    expect(() => slotsOf({ index: 0.5, count: 2 })).toThrow(TypeError);
  });
});

describe('ensureTable and the due index', () => {
  it('creates the table with the index', async () => {
    await ensureTable(client, 'with-index');
    const made = await client.send(new DescribeTableCommand({ TableName: 'with-index' }));
    expect(made.Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual([DUE_INDEX]);
    expect(made.Table?.GlobalSecondaryIndexes?.[0]?.KeySchema).toEqual([
      { AttributeName: 'dueSlot', KeyType: 'HASH' },
      { AttributeName: 'dueAt', KeyType: 'RANGE' },
    ]);
  });
});
