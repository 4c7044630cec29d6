/**
 * Builds the shared token store the configuration asks for (`cache.store`).
 */
import { networkCause } from '../aws/network-cause.ts';
import { createDynamoDbClient, type DynamoDbClientFactory } from '../aws/sdk.ts';
import { BrokerError, ConfigError } from '../errors.ts';
import type { CacheSettings } from '../config/types.ts';
import type { SecretResolver, SecretValue } from '../secrets/types.ts';
import type { Clock, Logger, Metrics } from '../types.ts';
import { createDynamoDbStore } from './dynamodb-store.ts';
import { ensureTable } from './ensure-table.ts';
import { createResilientStore, SHARED_CALL_TIMEOUT_MS } from './resilient-store.ts';
import type { ResilientStoreOptions } from './resilient-store.ts';
import { SEAL_KEY_LENGTH } from './seal.ts';
import type { SharedTokenStore } from './types.ts';

/** What {@link createSharedStore} needs besides the settings. */
export interface SharedStoreDeps {
  readonly secrets: SecretResolver;
  /** Builds the DynamoDB client; default `new DynamoDBClient(config)`. */
  readonly clientFactory?: DynamoDbClientFactory | undefined;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Limits of the resilient wrapper (timeouts, warning period, circuit). */
  readonly resilience?: Omit<ResilientStoreOptions, 'clock' | 'logger' | 'metrics'>;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}=?$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * The 32-byte seal key from a secret: 64 hex digits, base64 (standard or url-safe) of
 * 32 bytes, or 32 raw bytes (SecretBinary, a binary file). A 32-character passphrase is
 * not a key and is refused.
 *
 * @throws ConfigError `ERR_CONFIG` when the value is none of these.
 */
export function decodeSealKey(value: SecretValue): Uint8Array {
  const text = value.text?.trim();
  if (text !== undefined && HEX_KEY.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (text !== undefined && BASE64_KEY.test(text)) {
    const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.byteLength === SEAL_KEY_LENGTH) return new Uint8Array(bytes);
  }
  if (value.bytes.byteLength === SEAL_KEY_LENGTH && (text === undefined || !PRINTABLE.test(text))) {
    return new Uint8Array(value.bytes);
  }
  throw new ConfigError(
    'ERR_CONFIG',
    `cache.sealKey must be a ${SEAL_KEY_LENGTH}-byte key: raw, base64 or hex ` +
      '(make one with `openssl rand -base64 32`)',
  );
}

/**
 * The shared token store for `settings`: undefined for `store: memory`; for
 * `store: dynamodb` the DynamoDB store wrapped so that an unavailable table never fails a
 * request. With `settings.endpoint` set (a local DynamoDB such as dynalite) the table is
 * created when missing.
 *
 * @throws ConfigError `ERR_CONFIG` when `cache.sealKey` is missing or not a 32-byte key.
 * @throws SecretError `ERR_SECRET_*` when the seal key's reference cannot be resolved.
 * @throws BrokerError `ERR_CACHE_UNAVAILABLE` when the local table cannot be reached or created.
 */
export async function createSharedStore(
  settings: CacheSettings,
  deps: SharedStoreDeps,
): Promise<SharedTokenStore | undefined> {
  if (settings.store === 'memory') return undefined;
  if (settings.sealKey === undefined || settings.sealKey === '') {
    throw new ConfigError('ERR_CONFIG', 'cache.sealKey is required with store: dynamodb');
  }
  const sealKey = decodeSealKey(await deps.secrets.resolveBytes(settings.sealKey));
  const local = settings.endpoint !== undefined;
  const client = await createDynamoDbClient(
    { region: settings.region, endpoint: settings.endpoint, timeoutMs: SHARED_CALL_TIMEOUT_MS },
    deps.clientFactory,
  );
  if (local) {
    try {
      await ensureTable(client, settings.table);
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      const cause = networkCause(error);
      throw new BrokerError(
        'ERR_CACHE_UNAVAILABLE',
        `cannot prepare table "${settings.table}" at cache.endpoint ${settings.endpoint}` +
          `${cause === undefined ? '' : ` (${cause})`}: start the local DynamoDB or remove cache.endpoint`,
        { cause: error },
      );
    }
  }
  const store = createDynamoDbStore({
    client,
    table: settings.table,
    sealKey,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
  });
  return createResilientStore(store, {
    ...deps.resilience,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
  });
}
