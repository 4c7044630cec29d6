import {
  DescribeTableCommand,
  GetItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemKey } from '../../lib/cache/dynamodb-item.ts';
import { createDynamoDbStore, TOUCH_INTERVAL_MS } from '../../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import type { Logger } from '../../lib/types.ts';
import { startDynalite } from '../support/dynalite.ts';
import type { Dynalite } from '../support/dynalite.ts';
import {
  descriptorFor,
  manualClock,
  randomSealKey,
  recordingLogger,
  tokenAt,
  uniqueKey,
} from '../support/shared-cache-fixtures.ts';

const TABLE = 'token-broker-cache';
const sealKey = randomSealKey();
let dynamo: Dynalite;
let client: DynamoDBClient;

function storeWith(
  options: { clock?: () => number; key?: Uint8Array; logger?: Logger; table?: string } = {},
) {
  return createDynamoDbStore({
    client,
    table: options.table ?? TABLE,
    sealKey: options.key ?? sealKey,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}

async function rawItem(key: string): Promise<Record<string, AttributeValue> | undefined> {
  const { Item } = await client.send(
    new GetItemCommand({ TableName: TABLE, Key: { pk: { S: itemKey(key) } }, ConsistentRead: true }),
  );
  return Item;
}

/** An item as text, binary attributes included as latin1 and UTF-8 so plaintext would show. */
function itemText(item: Record<string, AttributeValue>): string {
  return JSON.stringify(item, (_name, value: unknown) =>
    value instanceof Uint8Array
      ? `${Buffer.from(value).toString('latin1')} ${Buffer.from(value).toString('utf8')} ${Buffer.from(value).toString('base64')}`
      : value,
  );
}

beforeAll(async () => {
  dynamo = await startDynalite();
  client = dynamo.client();
  await ensureTable(client, TABLE);
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
});

describe('createDynamoDbStore', () => {
  it('reads back the token it stored (round trip)', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const token = tokenAt(clock.now());

    expect(await store.get(key)).toBeUndefined();
    await store.put(key, descriptorFor('jsmith@example.com'), token);

    expect(await store.get(key)).toEqual(token);
    expect(await storeWith({ clock: clock.now }).get(key)).toEqual(token);
  });

  it('keeps the descriptor, expiry and item key in clear and a ttl after expiry', async () => {
    const clock = manualClock();
    const key = uniqueKey();
    const token = tokenAt(clock.now());
    await storeWith({ clock: clock.now }).put(key, descriptorFor('a@example.com', ['s1', 's2']), token);

    const item = (await rawItem(key))!;

    expect(item['pk']).toEqual({ S: itemKey(key) });
    expect(itemKey(key)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(item['key']).toEqual({ S: key });
    expect(item['subject']).toEqual({ S: 'a@example.com' });
    expect(item['scopes']).toEqual({ L: [{ S: 's1' }, { S: 's2' }] });
    expect(item['expiresAt']).toEqual({ N: String(token.expiresAt) });
    expect(Number(item['ttl']!.N)).toBeGreaterThan(token.expiresAt / 1000);
    expect(item['lastUsedAt']).toEqual({ N: String(clock.now()) });
  });

  it('reads an expired token as a miss without relying on the table ttl', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    await store.put(key, descriptorFor('a@example.com'), tokenAt(clock.now(), 60_000));

    clock.advance(60_000);

    expect(await store.get(key)).toBeUndefined();
  });

  it('grants a contended lease to exactly one of many racing holders', async () => {
    const key = uniqueKey();
    const stores = Array.from({ length: 8 }, () => storeWith());

    const results = await Promise.all(
      stores.map((store, index) =>
        store.acquireLease(key, descriptorFor('a@example.com'), `holder-${index}`, 5000),
      ),
    );

    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect((await rawItem(key))!['lease']).toEqual({ S: `holder-${winner}` });
  });

  it('lets another holder take a lease once it has lapsed', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');

    expect(await store.acquireLease(key, descriptor, 'A', 2000)).toBe(true);
    clock.advance(1999);
    expect(await store.acquireLease(key, descriptor, 'B', 2000)).toBe(false);
    expect(await store.acquireLease(key, descriptor, 'A', 2000)).toBe(true); // renewal by its holder
    clock.advance(2001);
    expect(await store.acquireLease(key, descriptor, 'B', 2000)).toBe(true);
    expect((await rawItem(key))!['lease']).toEqual({ S: 'B' });
  });

  it('releases the lease when its holder puts the token', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    const token = tokenAt(clock.now());
    await store.acquireLease(key, descriptor, 'A', 10_000);

    await store.put(key, descriptor, token, 'A');

    const item = (await rawItem(key))!;
    expect(item['lease']).toBeUndefined();
    expect(item['leaseUntil']).toBeUndefined();
    expect(await store.get(key)).toEqual(token);
    expect(await store.acquireLease(key, descriptor, 'B', 10_000)).toBe(true);
  });

  it('refuses the token of a holder whose lapsed lease another holder took (fencing)', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    await store.acquireLease(key, descriptor, 'A/1', 1000);
    clock.advance(1001);
    await store.acquireLease(key, descriptor, 'B/1', 1000);
    const newer = tokenAt(clock.now());
    expect(await store.put(key, descriptor, newer, 'B/1')).toBe(true);
    const late = tokenAt(clock.now() + 5);

    expect(await store.put(key, descriptor, late, 'A/1')).toBe(false);

    expect(await store.get(key)).toEqual(newer);
    expect((await rawItem(key))!['lease']).toBeUndefined();
  });

  it('accepts the token of a holder whose lease lapsed while nobody took over', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    await store.acquireLease(key, descriptor, 'A/1', 1000);
    clock.advance(5000);
    const token = tokenAt(clock.now());

    expect(await store.put(key, descriptor, token, 'A/1')).toBe(true);
    expect(await store.get(key)).toEqual(token);
  });

  it('renews a lease for its holder only, and the renewal keeps others out', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    await store.acquireLease(key, descriptor, 'A/1', 1000);
    clock.advance(900);
    expect(await store.renewLease(key, 'A/1', 1000)).toBe(true);
    expect(await store.renewLease(key, 'B/1', 1000)).toBe(false);
    clock.advance(900); // 1800 ms after the first acquisition: held only thanks to the renewal
    expect(await store.acquireLease(key, descriptor, 'B/1', 1000)).toBe(false);
    clock.advance(101);
    expect(await store.acquireLease(key, descriptor, 'B/2', 1000)).toBe(true);
    expect(await store.renewLease(key, 'A/1', 1000)).toBe(false);
  });

  it('never lets an unleased put replace a newer token', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    const older = tokenAt(clock.now());
    clock.advance(1000);
    const newer = tokenAt(clock.now());
    expect(await store.put(key, descriptor, newer)).toBe(true);

    expect(await store.put(key, descriptor, older)).toBe(false);
    expect(await store.get(key)).toEqual(newer);
  });

  it('remembers consent_required sealed until its window ends, and forgets it when a token is put', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    const consent = {
      until: clock.now() + 60_000,
      consentUrl: 'https://broker.example.com/consent/docusign?subject=a%40example.com',
      error: 'consent_required',
      errorDescription: 'user has not consented',
    };
    await store.putConsentRequired(key, descriptor, consent);

    expect(await store.getConsentRequired(key)).toEqual(consent);
    expect(itemText((await rawItem(key))!)).not.toContain('user has not consented');
    clock.advance(60_000);
    expect(await store.getConsentRequired(key)).toBeUndefined();

    await store.putConsentRequired(key, descriptor, { ...consent, until: clock.now() + 60_000 });
    await store.put(key, descriptor, tokenAt(clock.now()));
    expect(await store.getConsentRequired(key)).toBeUndefined();
    expect(
      await storeWith({ clock: clock.now, key: randomSealKey() }).getConsentRequired(key),
    ).toBeUndefined();
  });

  it('gives a lease up on releaseLease by its holder only', async () => {
    const store = storeWith();
    const key = uniqueKey();
    const descriptor = descriptorFor('a@example.com');
    await store.acquireLease(key, descriptor, 'A', 60_000);

    await store.releaseLease(key, 'B');
    expect(await store.acquireLease(key, descriptor, 'C', 60_000)).toBe(false);

    await store.releaseLease(key, 'A');
    expect(await store.acquireLease(key, descriptor, 'C', 60_000)).toBe(true);
    await expect(store.releaseLease(uniqueKey(), 'A')).resolves.toBeUndefined();
  });

  it('leaves no token text in the table: a raw scan finds every access token sealed', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const tokens = Array.from({ length: 5 }, () => tokenAt(clock.now()));
    for (const [index, token] of tokens.entries()) {
      await store.put(uniqueKey(), descriptorFor(`user${index}@example.com`), token);
    }

    const { Items = [] } = await client.send(new ScanCommand({ TableName: TABLE }));

    expect(Items.length).toBeGreaterThanOrEqual(tokens.length);
    for (const item of Items) {
      const text = itemText(item);
      for (const token of tokens) {
        expect(text).not.toContain(token.accessToken);
        expect(text).not.toContain('at-SECRET-');
      }
    }
  });

  it('reads entries sealed under another key as misses and warns once', async () => {
    const clock = manualClock();
    const key = uniqueKey();
    const other = uniqueKey();
    await storeWith({ clock: clock.now }).put(key, descriptorFor('a@example.com'), tokenAt(clock.now()));
    await storeWith({ clock: clock.now }).put(other, descriptorFor('b@example.com'), tokenAt(clock.now()));
    const logger = recordingLogger();
    const wrong = storeWith({ clock: clock.now, key: randomSealKey(), logger });

    expect(await wrong.get(key)).toBeUndefined();
    expect(await wrong.get(other)).toBeUndefined();
    expect(await wrong.get(key)).toBeUndefined();

    expect(logger.warnings()).toHaveLength(1);
    expect(logger.warnings()[0]!.message).toContain('does not unseal');
    expect(logger.warnings()[0]!.fields).toMatchObject({ table: TABLE, reason: 'authentication' });
    expect(JSON.stringify(logger.lines)).not.toContain('at-SECRET-');
  });

  it('reads a tampered ciphertext, or one copied from another item, as a miss', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const victim = uniqueKey();
    await store.put(key, descriptorFor('a@example.com'), tokenAt(clock.now()));
    await store.put(victim, descriptorFor('b@example.com'), tokenAt(clock.now()));
    const sealed = (await rawItem(key))!['token']!.B!;
    const tampered = Uint8Array.from(sealed);
    tampered[20]! ^= 0xff;
    const setToken = (target: string, value: Uint8Array) =>
      client.send(
        new UpdateItemCommand({
          TableName: TABLE,
          Key: { pk: { S: itemKey(target) } },
          UpdateExpression: 'SET #token = :token',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: { ':token': { B: value } },
        }),
      );

    await setToken(key, tampered);
    await setToken(victim, sealed);

    expect(await store.get(key)).toBeUndefined();
    expect(await store.get(victim)).toBeUndefined();
  });

  it('writes touches at most once per interval and never creates an item', async () => {
    const clock = manualClock();
    const store = storeWith({ clock: clock.now });
    const key = uniqueKey();
    const start = clock.now();
    await store.put(key, descriptorFor('a@example.com'), tokenAt(start, 86_400_000));

    clock.advance(1000);
    await store.touch(key);
    expect((await rawItem(key))!['lastUsedAt']).toEqual({ N: String(start + 1000) });
    clock.advance(TOUCH_INTERVAL_MS - 1);
    await store.touch(key);
    expect((await rawItem(key))!['lastUsedAt']).toEqual({ N: String(start + 1000) });
    clock.advance(1);
    await store.touch(key);
    expect((await rawItem(key))!['lastUsedAt']).toEqual({ N: String(clock.now()) });

    const missing = uniqueKey();
    await store.touch(missing);
    expect(await rawItem(missing)).toBeUndefined();
  });

  it('lists the entries used since a time whose token expires before another', async () => {
    const table = 'list-expiring-test';
    await ensureTable(client, table);
    const clock = manualClock();
    const store = storeWith({ clock: clock.now, table });
    const t0 = clock.now();
    const hot = uniqueKey('hot');
    const fresh = uniqueKey('fresh');
    const idle = uniqueKey('idle');
    const leaseOnly = uniqueKey('lease');
    await store.put(idle, descriptorFor('idle@example.com'), tokenAt(t0, 20 * 60_000));
    clock.advance(10 * 60_000);
    const hotToken = tokenAt(clock.now(), 4 * 60_000);
    await store.put(hot, descriptorFor('hot@example.com', ['a', 'b']), hotToken);
    await store.put(fresh, descriptorFor('fresh@example.com'), tokenAt(clock.now(), 60 * 60_000));
    await store.acquireLease(leaseOnly, descriptorFor('lease@example.com'), 'A', 5000);
    clock.advance(30_000);
    await store.touch(hot);

    const entries = await store.listExpiring(t0 + 5 * 60_000, clock.now() + 15 * 60_000);

    expect(entries).toEqual([
      {
        key: hot,
        descriptor: descriptorFor('hot@example.com', ['a', 'b']),
        token: hotToken,
        lastUsedAt: clock.now(),
      },
    ]);
    const everything = await store.listExpiring(0, Number.MAX_SAFE_INTEGER);
    expect(everything.map((entry) => entry.key).sort()).toEqual([fresh, hot, idle].sort());
  });

  it('rejects a seal key that is not 32 bytes with a TypeError', () => {
    expect(() => createDynamoDbStore({ client, table: TABLE, sealKey: new Uint8Array(16) })).toThrow(
      new TypeError('sealKey must be 32 bytes, got 16'),
    );
  });
});

describe('ensureTable', () => {
  it('creates a missing table, ACTIVE, and is a no-op (even concurrently) when it exists', async () => {
    const table = 'created-by-ensure-table';

    await Promise.all([ensureTable(client, table), ensureTable(client, table)]);
    await ensureTable(client, table);

    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    const store: SharedTokenStore = storeWith({ table });
    const token = tokenAt(Date.now());
    await store.put('k', descriptorFor('a@example.com'), token);
    expect(await store.get('k')).toEqual(token);
  });
});
