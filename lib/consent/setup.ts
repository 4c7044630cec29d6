/**
 * Wires the broker and its consent flow for the Lambda runtime and the local server: the
 * shared token cache the cache settings imply, the broker, the state key source, the
 * consent store and the flow itself.
 */
import { createDynamoDbClient, type DynamoDbClientFactory } from '../aws/sdk.ts';
import { createBroker, type TokenBroker } from '../broker/index.ts';
import { refreshMarginOf } from '../cache/due.ts';
import { SHARED_CALL_TIMEOUT_MS } from '../cache/resilient-store.ts';
import type { SharedTokenStore } from '../cache/types.ts';
import type { BrokerConfig, CacheSettings } from '../config/types.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { silentLogger, type Clock, type Logger, type Metrics } from '../types.ts';
import { consentUrlBuilder } from './base-url.ts';
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
  readonly dynamoDbClient?: DynamoDbClientFactory | undefined;
  readonly fetch?: typeof fetch | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** The profiles' events (lib/events); none are sent without. */
  readonly events?: ProfileEvents | undefined;
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
    const { createDynamoDbConsentStore } = await import('./dynamodb-store.ts');
    // The same bounded attempts as the token cache, so a hung table cannot hold a callback.
    const client = await createDynamoDbClient(
      { region: settings.region, endpoint: settings.endpoint, timeoutMs: SHARED_CALL_TIMEOUT_MS },
      deps.dynamoDbClient,
    );
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
    events: deps.events,
  });
}

/** What {@link setupBroker} needs: the consent setup's dependencies, less the broker it builds. */
export interface BrokerSetupDeps extends Omit<ConsentSetupDeps, 'broker'> {
  readonly metrics?: Metrics | undefined;
  /** The shared token cache; default per `cache.store` (none for `memory`). */
  readonly sharedStore?: SharedTokenStore | undefined;
  /** Base URL of consent links when neither `consent.baseUrl` nor a redirectUri gives one. */
  readonly consentBaseUrl?: (() => string | undefined) | undefined;
  /** False under Lambda: no work after a request is answered (see {@link BrokerDeps.backgroundWork}). */
  readonly backgroundWork?: boolean | undefined;
}

/** The broker, its shared token cache and its consent flow. */
export interface BrokerSetup {
  readonly broker: TokenBroker;
  readonly sharedStore: SharedTokenStore | undefined;
  readonly consent: ConsentFlow;
}

/**
 * Builds the shared token cache (its DynamoDB client is loaded only when `cache.store`
 * needs it), the broker over it, and the consent flow over the broker.
 *
 * @throws ConfigError `ERR_CONFIG` / SecretError `ERR_SECRET_*` for the cache seal key;
 * BrokerError `ERR_CACHE_UNAVAILABLE` when a local table cannot be prepared.
 */
export async function setupBroker(deps: BrokerSetupDeps): Promise<BrokerSetup> {
  const { config, secrets, logger, metrics, clock } = deps;
  const sharedStore =
    deps.sharedStore ??
    (config.cache.store === 'memory'
      ? undefined
      : await (
          await import('../cache/shared-store-factory.ts')
        ).createSharedStore(config.cache, {
          secrets,
          logger,
          metrics,
          clock,
          dueMarginMs: refreshMarginOf(config),
        }));
  const broker = createBroker({
    config,
    secrets,
    logger,
    metrics,
    clock,
    fetch: deps.fetch,
    consentUrl: consentUrlBuilder(config, deps.consentBaseUrl),
    sharedStore,
    ...(deps.backgroundWork !== undefined && { backgroundWork: deps.backgroundWork }),
    events: deps.events,
  });
  return { broker, sharedStore, consent: setupConsent({ ...deps, broker }) };
}
