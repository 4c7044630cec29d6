/**
 * The consent store on DynamoDB, for the deployed broker: nonces are claimed with a
 * conditional PutItem (`attribute_not_exists(pk)`), so a replayed `state` is refused by
 * every instance, and the latest outcome per (profile, subject) is one item. It can share
 * the shared cache's table (string hash key `pk`): its keys carry the `nonce#` and
 * `consent#` prefixes, which the cache's base64url keys never have.
 *
 * Errors of the DynamoDB client are passed through: the callback fails closed when the
 * table is unavailable, since it cannot tell a first use from a replay.
 */
import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ttlAfter } from '../cache/dynamodb-item.ts';
import type { ConsentRecord, ConsentStore } from './store.ts';

/** Options of {@link createDynamoDbConsentStore}. */
export interface DynamoDbConsentStoreOptions {
  readonly client: DynamoDBClient;
  /** Table with a string hash key `pk` and TTL on `ttl` (the shared cache table fits). */
  readonly table: string;
}

/** Partition key of a used nonce. */
export const nonceKey = (nonce: string): string => `nonce#${nonce}`;

/** Partition key of the consent record of a profile and subject (profile names never hold `#`). */
export const recordKey = (profile: string, subject: string): string => `consent#${profile}#${subject}`;

/**
 * A {@link ConsentStore} on `table`.
 *
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 */
export function createDynamoDbConsentStore(options: DynamoDbConsentStoreOptions): ConsentStore {
  const { client, table } = options;
  return {
    async useNonce(nonce, expiresAt) {
      try {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: {
              pk: { S: nonceKey(nonce) },
              expiresAt: { N: String(expiresAt) },
              ttl: { N: ttlAfter(expiresAt) },
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

    async record(record) {
      await client.send(
        new PutItemCommand({
          TableName: table,
          Item: {
            pk: { S: recordKey(record.profile, record.subject) },
            profile: { S: record.profile },
            subject: { S: record.subject },
            at: { N: String(record.at) },
            outcome: { S: record.outcome },
          },
        }),
      );
    },

    async latest(profile, subject): Promise<ConsentRecord | undefined> {
      const { Item: item } = await client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: recordKey(profile, subject) } },
          ConsistentRead: true,
        }),
      );
      const at = Number(item?.['at']?.N);
      const outcome = item?.['outcome']?.S;
      if (item === undefined || !Number.isFinite(at) || outcome === undefined) return undefined;
      return { profile, subject, at, outcome };
    },
  };
}
