/**
 * Creates the shared-cache table when it is missing. Only for a local DynamoDB (dynalite):
 * deployed tables belong to the stack.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, TableDescription, TableStatus } from '@aws-sdk/client-dynamodb';
import { BrokerError } from '../errors.ts';
import { cacheTableAttributes, dueIndexDefinition } from './due.ts';

/** How long {@link ensureTable} waits for a new table to become ACTIVE. */
export const TABLE_ACTIVE_TIMEOUT_MS = 30_000;

const POLL_INTERVAL_MS = 100;

async function describe(client: DynamoDBClient, table: string): Promise<TableDescription | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    return Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

async function tableStatus(client: DynamoDBClient, table: string): Promise<TableStatus | undefined> {
  return (await describe(client, table))?.TableStatus;
}

/**
 * Makes sure `table` exists (on-demand billing, string hash key `pk`, the due index of
 * `due.ts`) and is ACTIVE. Safe to call from several processes at once.
 *
 * @throws BrokerError `ERR_CACHE_UNAVAILABLE` when the table does not become ACTIVE in time;
 * the client's errors otherwise.
 * @see https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CreateTable.html
 */
export async function ensureTable(client: DynamoDBClient, table: string): Promise<void> {
  let status = await tableStatus(client, table);
  if (status === undefined) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: cacheTableAttributes(),
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          GlobalSecondaryIndexes: [dueIndexDefinition()],
        }),
      );
    } catch (error) {
      // Another process created it between our describe and create.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    status = await tableStatus(client, table);
  }
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  while (status !== 'ACTIVE') {
    if (Date.now() >= deadline) {
      throw new BrokerError(
        'ERR_CACHE_UNAVAILABLE',
        `DynamoDB table "${table}" did not become ACTIVE within ${TABLE_ACTIVE_TIMEOUT_MS / 1000} s; ` +
          'check the local endpoint in cache.endpoint',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
    status = await tableStatus(client, table);
  }
}
