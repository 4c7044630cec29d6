import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSharedStore, decodeSealKey } from '../../lib/cache/shared-store-factory.ts';
import type { CacheSettings } from '../../lib/config/types.ts';
import { ConfigError } from '../../lib/errors.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { SecretResolver } from '../../lib/secrets/types.ts';
import { clientFor, startDynalite } from '../support/dynalite.ts';
import type { Dynalite } from '../support/dynalite.ts';
import { descriptorFor, recordingLogger, tokenAt, uniqueKey } from '../support/shared-cache-fixtures.ts';

const rawKey = randomBytes(32);

let keyFolder: string;
let SECRETS: SecretResolver;

function settings(overrides: Partial<CacheSettings>): CacheSettings {
  return {
    store: 'dynamodb',
    table: 'factory-test',
    endpoint: undefined,
    region: undefined,
    sealKey: 'env:HEX_KEY',
    refreshMargin: 300,
    ...overrides,
  };
}

let dynamo: Dynalite;
const clients: DynamoDBClient[] = [];
const configs: DynamoDBClientConfig[] = [];
function clientFactory(config: DynamoDBClientConfig): DynamoDBClient {
  configs.push(config);
  const client = clientFor(String(config.endpoint), config);
  clients.push(client);
  return client;
}

beforeAll(async () => {
  dynamo = await startDynalite();
  keyFolder = await mkdtemp(join(tmpdir(), 'seal-key-'));
  await writeFile(join(keyFolder, 'raw.key'), rawKey);
  SECRETS = createSecretResolver({
    cwd: keyFolder,
    env: {
      HEX_KEY: rawKey.toString('hex'),
      BASE64_KEY: rawKey.toString('base64'),
      BASE64URL_KEY: rawKey.toString('base64url'),
      PASSPHRASE: 'a-thirty-two-character-password!',
      SHORT: randomBytes(16).toString('base64'),
    },
  });
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await dynamo?.close();
  await rm(keyFolder, { recursive: true, force: true });
});

describe('createSharedStore', () => {
  it('returns no shared store for store: memory', async () => {
    expect(
      await createSharedStore(settings({ store: 'memory', sealKey: undefined }), { secrets: SECRETS }),
    ).toBe(undefined);
  });

  it('requires cache.sealKey with store: dynamodb', async () => {
    const attempt = createSharedStore(settings({ sealKey: undefined }), { secrets: SECRETS });

    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: 'cache.sealKey is required with store: dynamodb',
    });
  });

  it('creates the table at a local endpoint and gives stores that share entries across key encodings', async () => {
    const table = 'factory-created';
    const make = (sealKey: string) =>
      createSharedStore(settings({ table, endpoint: dynamo.endpoint, sealKey }), {
        secrets: SECRETS,
        clientFactory,
      });
    const hex = (await make('env:HEX_KEY'))!;
    const base64 = (await make('env:BASE64_KEY'))!;
    const raw = (await make('file:raw.key'))!;
    const key = uniqueKey();
    const token = tokenAt(Date.now());

    await hex.put(key, descriptorFor('a@example.com'), token);

    expect(await base64.get(key)).toEqual(token);
    expect(await raw.get(key)).toEqual(token);
    const { Table } = await clients[0]!.send(new DescribeTableCommand({ TableName: table }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(configs[0]).toMatchObject({ endpoint: dynamo.endpoint, region: 'us-east-1', maxAttempts: 2 });
  });

  it('falls back instead of failing when the local endpoint goes away after start', async () => {
    const local = await startDynalite();
    const logger = recordingLogger();
    const store = (await createSharedStore(settings({ endpoint: local.endpoint }), {
      secrets: SECRETS,
      clientFactory,
      logger,
    }))!;
    await local.close();

    expect(await store.get(uniqueKey())).toBeUndefined();
    expect(await store.acquireLease(uniqueKey(), descriptorFor('a@example.com'), 'h', 1000)).toBe(true);
    expect(logger.warnings()).toHaveLength(1);
  });

  it('reports an unreachable local endpoint at start with ERR_CACHE_UNAVAILABLE', async () => {
    const local = await startDynalite();
    await local.close();

    await expect(
      createSharedStore(settings({ endpoint: local.endpoint }), { secrets: SECRETS, clientFactory }),
    ).rejects.toMatchObject({
      code: 'ERR_CACHE_UNAVAILABLE',
      message:
        `cannot prepare table "factory-test" at cache.endpoint ${local.endpoint} ` +
        `(connection refused by 127.0.0.1:${new URL(local.endpoint).port}): ` +
        'start the local DynamoDB or remove cache.endpoint',
    });
  });
});

describe('decodeSealKey', () => {
  it('accepts hex, base64, base64url and raw 32-byte keys', async () => {
    for (const reference of ['env:HEX_KEY', 'env:BASE64_KEY', 'env:BASE64URL_KEY', 'file:raw.key']) {
      expect(decodeSealKey(await SECRETS.resolveBytes(reference))).toEqual(new Uint8Array(rawKey));
    }
  });

  it('refuses a passphrase and a short key with ERR_CONFIG saying how to make one', async () => {
    for (const reference of ['env:PASSPHRASE', 'env:SHORT']) {
      const value = await SECRETS.resolveBytes(reference);
      expect(() => decodeSealKey(value)).toThrow(
        expect.objectContaining({
          code: 'ERR_CONFIG',
          message:
            'cache.sealKey must be a 32-byte key: raw, base64 or hex (make one with `openssl rand -base64 32`)',
        }),
      );
    }
  });
});
