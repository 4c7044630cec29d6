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
  ScanCommand,
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
import { seal, SEAL_KEY_LENGTH, unseal } from './seal.ts';
import type { CachedToken, SharedEntry, SharedTokenStore, TokenDescriptor } from './types.ts';

/** Touches of one key closer together than this are not written (the schedule needs minutes, not ms). */
export const TOUCH_INTERVAL_MS = 30_000;

/** At most this many Scan pages per `listExpiring` (the table is small: one item per token). */
export const MAX_SCAN_PAGES = 20;

/** At most this many entries per `listExpiring`. */
export const MAX_LISTED_ENTRIES = 1000;

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
      'lastUsedAt = if_not_exists(lastUsedAt, :now)';
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

    async releaseLease(key, holder) {
      // A failed condition means the lease is not ours (any more): nothing to give up.
      await update(itemKey(key), {
        UpdateExpression: 'REMOVE #lease, leaseUntil',
        ConditionExpression: '#lease = :holder',
        ExpressionAttributeNames: names('#lease'),
        ExpressionAttributeValues: { ':holder': { S: holder } },
      });
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

    async listExpiring(usedSince, expiringBefore) {
      const entries: SharedEntry[] = [];
      let startKey: Item | undefined;
      for (let page = 0; page < MAX_SCAN_PAGES; page++) {
        const output = await client.send(
          new ScanCommand({
            TableName: table,
            FilterExpression: 'attribute_exists(#token) AND lastUsedAt >= :since AND expiresAt < :before',
            ExpressionAttributeNames: names('#token'),
            ExpressionAttributeValues: {
              ':since': { N: String(usedSince) },
              ':before': { N: String(expiringBefore) },
            },
            ...(startKey === undefined ? {} : { ExclusiveStartKey: startKey }),
          }),
        );
        for (const item of output.Items ?? []) {
          const decoded = decodeDescriptor(item);
          const pk = item['pk']?.S;
          if (decoded === undefined || pk === undefined) continue;
          const token = open(pk, item);
          entries.push({ ...decoded, token, lastUsedAt: numberAttribute(item, 'lastUsedAt') });
          if (entries.length >= MAX_LISTED_ENTRIES) return entries;
        }
        startKey = output.LastEvaluatedKey;
        if (startKey === undefined) return entries;
      }
      logger.warn('shared cache scan stopped at its page limit; some entries were not listed', {
        table,
        pages: MAX_SCAN_PAGES,
      });
      return entries;
    },
  };
}
