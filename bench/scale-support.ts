/**
 * What the scale rows (S1-S3) share: a dynalite table made as the stack makes it, a
 * DynamoDB client that counts the requests and items of each command, the scale profile
 * (one issuer, many subjects) in front of the development authorization server, and
 * stale tokens seeded into the shared cache.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createBroker, type TokenBroker } from '../lib/broker/index.ts';
import { refreshMarginOf } from '../lib/cache/due.ts';
import { createDynamoDbStore } from '../lib/cache/dynamodb-store.ts';
import type { SharedTokenStore } from '../lib/cache/types.ts';
import { parseConfig } from '../lib/config/index.ts';
import type { BrokerConfig } from '../lib/config/types.ts';
import { createSecretResolver } from '../lib/secrets/index.ts';
import { ROOT } from './support.ts';

export const KEY_PATH = join(ROOT, 'test/fixtures/keystores/pem-rsa2048-with-cert.pem');
export const CERT_PATH = `${KEY_PATH}.cert.pem`;
export const CLIENT_ID = 'scale-client';
export const AUDIENCE = 'token-broker-scale';
export const PROFILE = 'scale';

export const certificatePem = (): Promise<string> => readFile(CERT_PATH, 'utf8');

/** Requests and items read or written, by command name. */
export interface CommandCounts {
  [command: string]: { requests: number; items: number };
}

/** Adds counting to `client`: each command's requests, and the items a Query or Scan read. */
export function countCommands(client: DynamoDBClient): CommandCounts {
  const counts: CommandCounts = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const name = (context.commandName ?? 'unknown').replace(/Command$/, '');
      const entry = (counts[name] ??= { requests: 0, items: 0 });
      entry.requests += 1;
      const output = result.output as { ScannedCount?: number };
      entry.items += output.ScannedCount ?? (name === 'GetItem' || name === 'UpdateItem' ? 1 : 0);
      return result;
    },
    { step: 'initialize', name: 'benchCountCommands' },
  );
  return counts;
}

/** The scale profile and a dynamodb cache on `table` at `endpoint`. */
export function scaleConfig(tokenUrl: string, endpoint: string, table: string): BrokerConfig {
  const yaml = [
    'profiles:',
    `  ${PROFILE}:`,
    '    provider: generic',
    `    issuer: ${CLIENT_ID}`,
    '    subject: user0@example.com',
    "    subjects: ['*@example.com']",
    `    tokenUri: POST ${tokenUrl}`,
    `    audience: ${AUDIENCE}`,
    '    scope: read',
    `    certStore: file:${KEY_PATH}`,
    '    callers: ["arn:aws:iam::123456789012:role/scale"]',
    'cache:',
    '  store: dynamodb',
    `  table: ${table}`,
    `  endpoint: ${endpoint}`,
    '  sealKey: env:SEAL_KEY',
    '',
  ].join('\n');
  return parseConfig(yaml, 'scale.yaml');
}

/** A broker and its DynamoDB store (no resilient wrapper: a failure must show). */
export function scaleBroker(
  config: BrokerConfig,
  client: DynamoDBClient,
  sealKeyHex: string,
): { broker: TokenBroker; store: SharedTokenStore } {
  const secrets = createSecretResolver({ env: { SEAL_KEY: sealKeyHex }, cwd: ROOT });
  const margin = refreshMarginOf(config);
  const store = createDynamoDbStore({
    client,
    table: config.cache.table,
    sealKey: new Uint8Array(Buffer.from(sealKeyHex, 'hex')),
    dueMarginMs: (descriptor) => margin(descriptor.profile),
  });
  return { broker: createBroker({ config, secrets, sharedStore: store }), store };
}

/**
 * Stores a token for each subject, `due` ones inside their refresh margin (2 minutes left
 * of an hour), the others fresh (40 minutes left); all of them used just now.
 */
export async function seedTokens(
  broker: TokenBroker,
  store: SharedTokenStore,
  subjects: readonly { subject: string; due: boolean }[],
  concurrency = 16,
): Promise<void> {
  const now = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < subjects.length) {
      const { subject, due } = subjects[next++]!;
      const { key, descriptor } = broker.describe({ profile: PROFILE, subject, scope: undefined });
      const left = due ? 2 * 60_000 : 40 * 60_000;
      await store.put(key, descriptor, {
        accessToken: `seeded-${next}`,
        tokenType: 'Bearer',
        expiresAt: now + left,
        obtainedAt: now + left - 3_600_000,
        scope: 'read',
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
