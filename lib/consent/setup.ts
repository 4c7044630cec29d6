/**
 * Wires the consent flow for the Lambda runtime and the local server: the state key
 * source, the consent store the cache settings imply, and the flow itself.
 */
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type { TokenBroker } from '../broker.ts';
import type { BrokerConfig, CacheSettings } from '../config/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { silentLogger, type Clock, type Logger } from '../types.ts';
import { createConsentFlow, type ConsentFlow } from './flow.ts';
import { stateKeySource } from './state-key.ts';
import { createMemoryConsentStore, type ConsentStore } from './store.ts';

/** What {@link setupConsent} needs. */
export interface ConsentSetupDeps {
  readonly config: BrokerConfig;
  readonly broker: Pick<TokenBroker, 'refresh'>;
  readonly secrets: SecretResolver;
  /** Allow a per-process state key when `consent.stateKey` is unset (local server only). */
  readonly ephemeralStateKey: boolean;
  /** Default: {@link consentStoreFor} the cache settings. */
  readonly store?: ConsentStore | undefined;
  /** Builds the DynamoDB client; default `new DynamoDBClient(config)`. */
  readonly dynamoDbClient?: ((config: DynamoDBClientConfig) => DynamoDBClient) | undefined;
  readonly fetch?: typeof fetch | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
}

/** A store whose construction (SDK load, local table check) waits for its first use. */
function lazyStore(build: () => Promise<ConsentStore>): ConsentStore {
  let store: Promise<ConsentStore> | undefined;
  const get = (): Promise<ConsentStore> => {
    store ??= build().catch((err: unknown) => {
      store = undefined;
      throw err;
    });
    return store;
  };
  return {
    useNonce: async (nonce, expiresAt) => (await get()).useNonce(nonce, expiresAt),
    record: async (record) => (await get()).record(record),
    latest: async (profile, subject) => (await get()).latest(profile, subject),
  };
}

/**
 * The consent store for the cache settings: on the shared cache's DynamoDB table with
 * `store: dynamodb` (a local endpoint gets its table created when missing), else in memory.
 * In memory, a replay is only refused by the instance that saw the first use.
 */
export function consentStoreFor(
  settings: CacheSettings,
  deps: Pick<ConsentSetupDeps, 'dynamoDbClient' | 'clock' | 'logger'> = {},
): ConsentStore {
  if (settings.store !== 'dynamodb') {
    return createMemoryConsentStore(deps.clock ?? Date.now);
  }
  return lazyStore(async () => {
    const sdk = await import('@aws-sdk/client-dynamodb');
    const { createDynamoDbConsentStore } = await import('./dynamodb-store.ts');
    const config: DynamoDBClientConfig = {
      ...(settings.region !== undefined && { region: settings.region }),
      ...(settings.endpoint !== undefined && {
        endpoint: settings.endpoint,
        region: settings.region ?? 'us-east-1',
        // A local DynamoDB accepts any signature, but the SDK will not send unsigned requests.
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    };
    const client = deps.dynamoDbClient?.(config) ?? new sdk.DynamoDBClient(config);
    if (settings.endpoint !== undefined) {
      const { ensureTable } = await import('../cache/ensure-table.ts');
      await ensureTable(client, settings.table);
    }
    return createDynamoDbConsentStore({ client, table: settings.table });
  });
}

/** The consent flow over the broker, with its state key and store. */
export function setupConsent(deps: ConsentSetupDeps): ConsentFlow {
  const logger = deps.logger ?? silentLogger;
  return createConsentFlow({
    config: deps.config,
    broker: deps.broker,
    secrets: deps.secrets,
    store: deps.store ?? consentStoreFor(deps.config.cache, deps),
    stateKey: stateKeySource(deps.config, deps.secrets, { ephemeral: deps.ephemeralStateKey, logger }),
    ...(deps.fetch && { fetch: deps.fetch }),
    ...(deps.clock && { clock: deps.clock }),
    logger,
  });
}
