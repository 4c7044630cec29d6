/**
 * The events' repeat-prevention state on DynamoDB, in the shared cache's table (string hash
 * key `pk`): items `event#<kind>#<profile>[#<digest>]` (see `stateKey`), each changed by a
 * conditional write, so that of all the instances that see a condition exactly one wins
 * the right to send its event.
 *
 * Items carry the table's `ttl`: a claim (Consent Required, Key Rejected) lapses
 * {@link STATE_TTL_SECONDS} after it was made, so a condition that still holds then is
 * announced again, once a month rather than never; a failure count lapses that long after
 * the last failure; a certificate's record a day after the certificate's expiry.
 *
 * Errors of the DynamoDB client are passed through; the emitter logs them and sends nothing.
 *
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 */
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { ttlAfter } from '../cache/dynamodb-item.ts';
import type { Clock } from '../types.ts';
import type { EventState, StateFields } from './state.ts';

/** How long a claim or a failure count is kept without a change, seconds (30 days). */
export const STATE_TTL_SECONDS = 30 * 86_400;

/** Options of {@link createDynamoDbEventState}. */
export interface DynamoDbEventStateOptions {
  readonly client: DynamoDBClient;
  /** Table with a string hash key `pk` and TTL on `ttl` (the shared cache table). */
  readonly table: string;
  readonly clock?: Clock;
}

function attribute(value: string | number): AttributeValue {
  return typeof value === 'number' ? { N: String(value) } : { S: value };
}

function fieldsOf(item: Record<string, AttributeValue> | undefined): StateFields | undefined {
  if (item === undefined) return undefined;
  const out: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(item)) {
    if (name === 'pk' || name === 'ttl') continue;
    if (value.N !== undefined) out[name] = Number(value.N);
    else if (value.S !== undefined) out[name] = value.S;
  }
  return out;
}

/** True when the write lost its condition; rethrows anything else. */
function lost(error: unknown): boolean {
  if (error instanceof ConditionalCheckFailedException) return true;
  throw error;
}

/** An {@link EventState} on `table`. */
export function createDynamoDbEventState(options: DynamoDbEventStateOptions): EventState {
  const { client, table } = options;
  const clock = options.clock ?? Date.now;
  const key = (pk: string) => ({ pk: { S: pk } });
  const lapse = (): AttributeValue => ({ N: String(Math.ceil(clock() / 1000) + STATE_TTL_SECONDS) });

  return {
    async claim(pk, fields, signal) {
      const item: Record<string, AttributeValue> = { pk: { S: pk }, ttl: lapse() };
      for (const [name, value] of Object.entries(fields)) item[name] = attribute(value);
      try {
        await client.send(
          new PutItemCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
          { abortSignal: signal },
        );
        return true;
      } catch (error) {
        return !lost(error);
      }
    },

    async release(pk, signal) {
      const { Attributes } = await client.send(
        new DeleteItemCommand({ TableName: table, Key: key(pk), ReturnValues: 'ALL_OLD' }),
        { abortSignal: signal },
      );
      return fieldsOf(Attributes);
    },

    async addFailure(pk, at, fields, signal) {
      const names: Record<string, string> = { '#failures': 'failures', '#since': 'since', '#ttl': 'ttl' };
      const values: Record<string, AttributeValue> = {
        ':one': { N: '1' },
        ':at': { N: String(at) },
        ':ttl': lapse(),
      };
      const sets = ['#since = if_not_exists(#since, :at)', '#ttl = :ttl'];
      Object.entries(fields).forEach(([name, value], i) => {
        names[`#f${i}`] = name;
        values[`:f${i}`] = attribute(value);
        sets.push(`#f${i} = :f${i}`);
      });
      const { Attributes } = await client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: key(pk),
          UpdateExpression: `ADD #failures :one SET ${sets.join(', ')}`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
        { abortSignal: signal },
      );
      return fieldsOf(Attributes) ?? {};
    },

    async markNotified(pk, at, signal) {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: table,
            Key: key(pk),
            UpdateExpression: 'SET #notified = :at',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#notified)',
            ExpressionAttributeNames: { '#notified': 'notified' },
            ExpressionAttributeValues: { ':at': { N: String(at) } },
          }),
          { abortSignal: signal },
        );
        return true;
      } catch (error) {
        return !lost(error);
      }
    },

    async unmarkNotified(pk, signal) {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: table,
            Key: key(pk),
            UpdateExpression: 'REMOVE #notified',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: { '#notified': 'notified' },
          }),
          { abortSignal: signal },
        );
      } catch (error) {
        lost(error);
      }
    },

    async crossThreshold(pk, notAfter, threshold, signal) {
      try {
        await client.send(
          new UpdateItemCommand({
            TableName: table,
            Key: key(pk),
            UpdateExpression: 'SET #notAfter = :notAfter, #threshold = :threshold, #ttl = :ttl',
            // A new certificate starts over; the same one only moves to a lower threshold.
            ConditionExpression:
              'attribute_not_exists(pk) OR #notAfter <> :notAfter OR #threshold > :threshold',
            ExpressionAttributeNames: { '#notAfter': 'notAfter', '#threshold': 'threshold', '#ttl': 'ttl' },
            ExpressionAttributeValues: {
              ':notAfter': { N: String(notAfter) },
              ':threshold': { N: String(threshold) },
              ':ttl': { N: ttlAfter(notAfter) },
            },
          }),
          { abortSignal: signal },
        );
        return true;
      } catch (error) {
        return !lost(error);
      }
    },
  };
}
