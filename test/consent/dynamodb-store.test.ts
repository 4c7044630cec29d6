import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { createDynamoDbConsentStore, nonceKey } from '../../lib/consent/dynamodb-store.ts';
import type { ConsentStore } from '../../lib/consent/store.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';

const TABLE = 'token-broker-cache';
let dynalite: Dynalite;
let store: ConsentStore;

beforeAll(async () => {
  dynalite = await startDynalite();
  await ensureTable(dynalite.client(), TABLE);
  store = createDynamoDbConsentStore({ client: dynalite.client(), table: TABLE });
});
afterAll(() => dynalite.close());

describe('DynamoDB consent store', () => {
  it('accepts a nonce once and refuses its replay, across store instances', async () => {
    const other = createDynamoDbConsentStore({ client: dynalite.client(), table: TABLE });
    expect(await store.useNonce('nonce-1', 1_800_000_600_000)).toBe(true);
    expect(await other.useNonce('nonce-1', 1_800_000_600_000)).toBe(false);
    expect(await store.useNonce('nonce-1', 1_800_000_600_000)).toBe(false);
    expect(await other.useNonce('nonce-2', 1_800_000_600_000)).toBe(true);
  });

  it('lets exactly one of many concurrent uses of a nonce through', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.useNonce('race', 1_800_000_600_000)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('writes the nonce item with a TTL past the state expiry', async () => {
    await store.useNonce('ttl-check', 1_800_000_600_000);
    const { Item } = await dynalite
      .client()
      .send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: nonceKey('ttl-check') } } }));
    expect(Number(Item?.['ttl']?.N)).toBeGreaterThan(1_800_000_600);
  });

  it('keeps the latest record per profile and subject', async () => {
    await store.record({ profile: 'p', subject: 'a#b@example.com', at: 1, outcome: 'ERR_CONSENT_REQUIRED' });
    await store.record({ profile: 'p', subject: 'a#b@example.com', at: 2, outcome: 'granted' });
    expect(await store.latest('p', 'a#b@example.com')).toEqual({
      profile: 'p',
      subject: 'a#b@example.com',
      at: 2,
      outcome: 'granted',
    });
    expect(await store.latest('p', 'other@example.com')).toBeUndefined();
  });

  it('fails closed when the table is unreachable', async () => {
    const missing = createDynamoDbConsentStore({
      client: dynalite.client({ maxAttempts: 1 }),
      table: 'no-such-table',
    });
    await expect(missing.useNonce('n', 1)).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
