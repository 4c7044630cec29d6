/**
 * The shared token store on DynamoDB: sealed tokens, clear expiry and descriptor, a
 * fenced lease (conditional writes) that makes one instance the refresher of a key, and
 * remembered `consent_required` answers.
 *
 * Errors of the DynamoDB client are passed through; wrap the store in
 * `createResilientStore` so that an unavailable table never fails a request.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { Clock, Logger } from '../types.ts';
import { silentLogger } from '../types.ts';
import {
  ATTRIBUTE_NAMES,
  DESCRIPTOR_SET,
  consentData,
  decodeConsent,
  encodeConsent,
  decodeDescriptor,
  decodeToken,
  descriptorValues,
  encodeToken,
  itemKey,
  numberAttribute,
  ttlAfter,
} from './dynamodb-item.ts';
import type { Item } from './dynamodb-item.ts';
import { DEFAULT_REFRESH_MARGIN } from './token-cache.ts';
import { dueAt, dueSlot, DUE_INDEX, slotsOf } from './due.ts';
import { seal, SEAL_KEY_LENGTH, unseal } from './seal.ts';
import type { CachedToken, SharedEntry, SharedTokenStore, TokenDescriptor } from './types.ts';

/**
 * Partition key of a used DPoP proof. Token items have base64url keys (no `#`); consent
 * items `nonce#…` and `consent#…`: no item of one kind can stand for another.
 */
export const proofKey = (id: string): string => `dpop#${id}`;

/** Touches of one key closer together than this are not written (the schedule needs minutes, not ms). */
export const TOUCH_INTERVAL_MS = 30_000;

/** At most this many Query pages per `listDue`, over all its slots. */
export const MAX_QUERY_PAGES = 200;

/**
 * At most this many entries per `listDue`: more than one run can refresh (its pool and
 * deadline bound it); the rest stay due and are listed by the next run.
 */
export const MAX_LISTED_ENTRIES = 2000;

/** Slots queried at once by `listDue`. */
const QUERY_CONCURRENCY = 8;

/**
 * Idle entries taken out of the index per `listDue`, so that a first run over a large
 * idle table stays short; later runs take out the rest.
 */
export const MAX_DROPPED_ENTRIES = 2000;

/** Idle entries taken out of the index at once. */
const DROP_CONCURRENCY = 16;

/** Keys remembered for touch batching; the memory is dropped when it grows past this. */
const MAX_TOUCH_MEMORY = 10_000;

/** Options of {@link createDynamoDbStore}. */
export interface DynamoDbStoreOptions {
  readonly client: DynamoDBClient;
  readonly table: string;
  /** AES-256 key sealing the tokens (32 bytes). */
  readonly sealKey: Uint8Array;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * The refresh margin of a token, milliseconds: its profile's `refresh.before`, else
   * `cache.refreshMargin`; sets the item's `dueAt`. Default {@link DEFAULT_REFRESH_MARGIN}.
   */
  readonly dueMarginMs?: (descriptor: TokenDescriptor) => number;
}

function names(...placeholders: string[]): Record<string, string> {
  return Object.fromEntries(placeholders.map((placeholder) => [placeholder, ATTRIBUTE_NAMES[placeholder]!]));
}

/**
 * A {@link SharedTokenStore} on the DynamoDB table `table` (hash key `pk`, string).
 *
 * A token that does not unseal (another seal key, a tampered or foreign item) reads as a
 * miss and is reported once as a warning. Tokens already expired read as misses too.
 *
 * @throws TypeError when `sealKey` is not 32 bytes. Operations reject with the client's errors.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 */
export function createDynamoDbStore(options: DynamoDbStoreOptions): SharedTokenStore {
  const { client, table, sealKey } = options;
  if (sealKey.byteLength !== SEAL_KEY_LENGTH) {
    throw new TypeError(`sealKey must be ${SEAL_KEY_LENGTH} bytes, got ${sealKey.byteLength}`);
  }
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const dueMarginMs = options.dueMarginMs ?? (() => DEFAULT_REFRESH_MARGIN * 1000);
  const lastTouch = new Map<string, number>();
  let unsealWarned = false;

  function open(pk: string, item: Item): CachedToken | undefined {
    const sealed = item['token']?.B;
    if (sealed === undefined) return undefined;
    const result = unseal(sealKey, pk, sealed);
    const token = result.ok ? decodeToken(result.plaintext) : undefined;
    if (token === undefined) {
      const reason = result.ok ? 'payload' : result.reason;
      const fields = { table, item: pk.slice(0, 8), reason };
      if (unsealWarned) {
        logger.debug('shared cache entry does not unseal; treated as a miss', fields);
      } else {
        unsealWarned = true;
        logger.warn(
          'shared cache entry does not unseal (another cache.sealKey, or a tampered item); ' +
            'treated as a miss; check that every instance uses the same cache.sealKey',
          fields,
        );
      }
    }
    return token;
  }

  /** Updates item `pk`; false when the update's condition failed (other errors reject). */
  async function update(
    pk: string,
    input: Omit<UpdateItemCommandInput, 'TableName' | 'Key'>,
  ): Promise<boolean> {
    try {
      await client.send(new UpdateItemCommand({ TableName: table, Key: { pk: { S: pk } }, ...input }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Writes the sealed token and forgets a remembered consent answer. With `holder`, only
   * while that acquisition's lease is the item's latest (it may have lapsed, as long as
   * nobody took over), or when there is neither lease nor token; the lease is dropped.
   * Without, only when the stored token is not newer than this one.
   */
  function writeToken(pk: string, values: Item, holder: string | undefined): Promise<boolean> {
    const set =
      `SET #token = :token, expiresAt = :expiresAt, obtainedAt = :obtainedAt, #ttl = :ttl, ${DESCRIPTOR_SET}, ` +
      'lastUsedAt = if_not_exists(lastUsedAt, :now), dueAt = :dueAt, dueSlot = :dueSlot';
    return holder === undefined
      ? update(pk, {
          UpdateExpression: `${set} REMOVE #consent, consentUntil`,
          ConditionExpression: 'attribute_not_exists(obtainedAt) OR obtainedAt <= :obtainedAt',
          ExpressionAttributeNames: names('#token', '#ttl', '#key', '#grant', '#consent'),
          ExpressionAttributeValues: values,
        })
      : update(pk, {
          UpdateExpression: `${set} REMOVE #lease, leaseUntil, #consent, consentUntil`,
          ConditionExpression:
            '#lease = :holder OR (attribute_not_exists(#lease) AND attribute_not_exists(#token))',
          ExpressionAttributeNames: names('#token', '#ttl', '#key', '#grant', '#lease', '#consent'),
          ExpressionAttributeValues: { ...values, ':holder': { S: holder } },
        });
  }

  /**
   * Takes item `pk` out of the due index (its GSI keys go) while it is still the due,
   * unused item the Query saw; a token stored or a touch meanwhile keeps it in.
   */
  function leaveSchedule(pk: string, item: Item, usedSince: number): Promise<boolean> {
    const seen = item['dueAt']?.N;
    if (seen === undefined) return Promise.resolve(false);
    return update(pk, {
      UpdateExpression: 'REMOVE dueSlot, dueAt',
      ConditionExpression: 'dueAt = :seen AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :since)',
      ExpressionAttributeValues: { ':seen': { N: seen }, ':since': { N: String(usedSince) } },
    });
  }

  return {
    async get(key) {
      const pk = itemKey(key);
      const { Item: item } = await client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }),
      );
      if (item === undefined) return undefined;
      const token = open(pk, item);
      return token !== undefined && token.expiresAt > clock() ? token : undefined;
    },

    async put(key, descriptor, token, holder) {
      const pk = itemKey(key);
      const values: Item = {
        ...descriptorValues(key, descriptor),
        ':token': { B: seal(sealKey, pk, encodeToken(token)) },
        ':expiresAt': { N: String(token.expiresAt) },
        ':obtainedAt': { N: String(token.obtainedAt) },
        ':ttl': { N: ttlAfter(token.expiresAt) },
        ':now': { N: String(clock()) },
        // A stored token (re)enters the schedule's index at the time it becomes due.
        ':dueAt': { N: String(dueAt(token, dueMarginMs(descriptor))) },
        ':dueSlot': { N: String(dueSlot(pk)) },
      };
      return writeToken(pk, values, holder);
    },

    acquireLease(key, descriptor: TokenDescriptor, holder, leaseMs) {
      const now = clock();
      const until = now + leaseMs;
      return update(itemKey(key), {
        UpdateExpression: `SET #lease = :holder, leaseUntil = :until, #ttl = if_not_exists(#ttl, :ttl), ${DESCRIPTOR_SET}`,
        ConditionExpression: 'attribute_not_exists(#lease) OR leaseUntil < :now OR #lease = :holder',
        ExpressionAttributeNames: names('#lease', '#ttl', '#key', '#grant'),
        ExpressionAttributeValues: {
          ...descriptorValues(key, descriptor),
          ':holder': { S: holder },
          ':until': { N: String(until) },
          ':now': { N: String(now) },
          ':ttl': { N: ttlAfter(until) },
        },
      });
    },

    renewLease(key, holder, leaseMs) {
      const until = clock() + leaseMs;
      return update(itemKey(key), {
        UpdateExpression: 'SET leaseUntil = :until, #ttl = :ttl',
        ConditionExpression: '#lease = :holder',
        ExpressionAttributeNames: names('#lease', '#ttl'),
        ExpressionAttributeValues: {
          ':holder': { S: holder },
          ':until': { N: String(until) },
          ':ttl': { N: ttlAfter(until) },
        },
      });
    },

    async getConsentRequired(key) {
      const pk = itemKey(key);
      const { Item: item } = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: pk } },
          ConsistentRead: true,
          ProjectionExpression: '#consent',
          ExpressionAttributeNames: names('#consent'),
        }),
      );
      const sealed = item?.['consent']?.B;
      if (sealed === undefined) return undefined;
      const result = unseal(sealKey, consentData(pk), sealed);
      const consent = result.ok ? decodeConsent(result.plaintext) : undefined;
      return consent !== undefined && consent.until > clock() ? consent : undefined;
    },

    async putConsentRequired(key, descriptor, consent) {
      const pk = itemKey(key);
      await update(pk, {
        UpdateExpression: `SET #consent = :consent, consentUntil = :until, #ttl = if_not_exists(#ttl, :ttl), ${DESCRIPTOR_SET}`,
        ExpressionAttributeNames: names('#consent', '#ttl', '#key', '#grant'),
        ExpressionAttributeValues: {
          ...descriptorValues(key, descriptor),
          ':consent': { B: seal(sealKey, consentData(pk), encodeConsent(consent)) },
          ':until': { N: String(consent.until) },
          ':ttl': { N: ttlAfter(consent.until) },
        },
      });
    },

    async claimForcedRefresh(key, holder, leaseMs, obtainedAt, intervalMs) {
      const pk = itemKey(key);
      const now = clock();
      // One write takes both the lease and the rate limit, so exactly one instance wins them.
      const claimed = await update(pk, {
        UpdateExpression: 'SET #lease = :holder, leaseUntil = :until, forcedAt = :now',
        ConditionExpression:
          'obtainedAt = :seen AND (attribute_not_exists(#lease) OR leaseUntil < :now) AND ' +
          '(attribute_not_exists(forcedAt) OR forcedAt <= :cutoff)',
        ExpressionAttributeNames: names('#lease'),
        ExpressionAttributeValues: {
          ':holder': { S: holder },
          ':until': { N: String(now + leaseMs) },
          ':now': { N: String(now) },
          ':seen': { N: String(obtainedAt) },
          ':cutoff': { N: String(now - intervalMs) },
        },
      });
      if (claimed) return 'claimed';
      const { Item: item } = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: pk } },
          ConsistentRead: true,
          ProjectionExpression: 'obtainedAt, leaseUntil, forcedAt',
        }),
      );
      if (item === undefined || numberAttribute(item, 'obtainedAt') !== obtainedAt) return 'busy';
      if ((numberAttribute(item, 'leaseUntil') ?? -Infinity) >= now) return 'busy';
      return (numberAttribute(item, 'forcedAt') ?? -Infinity) > now - intervalMs ? 'limited' : 'busy';
    },

    async releaseLease(key, holder) {
      // A failed condition means the lease is not ours (any more): nothing to give up.
      await update(itemKey(key), {
        UpdateExpression: 'REMOVE #lease, leaseUntil',
        ConditionExpression: '#lease = :holder',
        ExpressionAttributeNames: names('#lease'),
        ExpressionAttributeValues: { ':holder': { S: holder } },
      });
    },

    async claimProof(id, freshUntil) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              pk: { S: proofKey(id) },
              freshUntil: { N: String(freshUntil) },
              // Needed only while the proof is fresh: DynamoDB may delete it any time after.
              ttl: { N: String(Math.ceil(freshUntil / 1000)) },
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },

    async touch(key) {
      const now = clock();
      const previous = lastTouch.get(key);
      if (previous !== undefined && now - previous < TOUCH_INTERVAL_MS) return;
      if (lastTouch.size >= MAX_TOUCH_MEMORY) lastTouch.clear();
      lastTouch.set(key, now);
      try {
        // An entry that is gone needs no touch (a failed condition); never create half an item.
        await update(itemKey(key), {
          UpdateExpression: 'SET lastUsedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':now': { N: String(now) } },
        });
      } catch (error) {
        lastTouch.delete(key);
        throw error;
      }
    },

    async listDue(query) {
      const slots = slotsOf(query.shard);
      // A run that cannot list everything must not always favour the same slots.
      const start = Math.floor(Math.random() * slots.length);
      const order = [...slots.slice(start), ...slots.slice(0, start)];
      const entries: SharedEntry[] = [];
      let pages = 0;
      let dropped = 0;
      const full = () => entries.length >= MAX_LISTED_ENTRIES || pages >= MAX_QUERY_PAGES;

      async function querySlot(slot: number): Promise<void> {
        let startKey: Item | undefined;
        do {
          if (full()) return;
          pages += 1;
          const output = await client.send(
            new QueryCommand({
              TableName: table,
              IndexName: DUE_INDEX,
              KeyConditionExpression: 'dueSlot = :slot AND dueAt < :now',
              ExpressionAttributeValues: { ':slot': { N: String(slot) }, ':now': { N: String(query.now) } },
              Limit: MAX_LISTED_ENTRIES - entries.length,
              ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
            }),
          );
          const idle: [string, Item][] = [];
          for (const item of output.Items ?? []) {
            const pk = item['pk']?.S;
            const decoded = decodeDescriptor(item);
            if (pk === undefined || decoded === undefined) continue;
            const lastUsedAt = numberAttribute(item, 'lastUsedAt');
            if (lastUsedAt === undefined || lastUsedAt < query.usedSince) {
              idle.push([pk, item]);
            } else if (entries.length < MAX_LISTED_ENTRIES) {
              entries.push({ ...decoded, token: open(pk, item), lastUsedAt });
            }
          }
          for (let i = 0; i < idle.length && dropped < MAX_DROPPED_ENTRIES; i += DROP_CONCURRENCY) {
            const batch = idle.slice(i, i + DROP_CONCURRENCY);
            const left = await Promise.all(
              batch.map(([pk, item]) => leaveSchedule(pk, item, query.usedSince)),
            );
            dropped += left.filter(Boolean).length;
          }
          startKey = output.LastEvaluatedKey;
        } while (startKey !== undefined);
      }

      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < order.length && !full()) await querySlot(order[next++]!);
      };
      await Promise.all(Array.from({ length: Math.min(QUERY_CONCURRENCY, order.length) }, worker));
      if (dropped > 0) {
        logger.debug('shared cache entries not used lately left the schedule', { table, dropped });
      }
      if (full()) {
        logger.warn('due tokens listed up to the limit of one run; the rest wait for the next run', {
          table,
          listed: entries.length,
          pages,
        });
      }
      return entries;
    },
  };
}
