/**
 * Builds the profiles' events for where the broker runs: on the stack's EventBridge bus
 * (Lambda), else as JSON lines to a file or stderr (the local server, `demo`), else none;
 * their repeat-prevention state in the shared cache's table with `cache.store: dynamodb`,
 * else in memory.
 */
import { resolve } from 'node:path';
import { createDynamoDbClient, type DynamoDbClientFactory } from '../aws/sdk.ts';
import { SHARED_CALL_TIMEOUT_MS } from '../cache/resilient-store.ts';
import type { BrokerConfig, CacheSettings } from '../config/types.ts';
import type { Clock, Logger, Metrics } from '../types.ts';
import { createProfileEvents, type ProfileEvents } from './emitter.ts';
import { createEventBridgeSink } from './eventbridge.ts';
import { createJsonLinesSink } from './json-lines.ts';
import type { EventSink } from './sink.ts';
import { createMemoryEventState, type EventState } from './state.ts';

/** Where events go: a bus (`TOKEN_BROKER_EVENT_BUS`) wins over a file (`TOKEN_BROKER_EVENTS_FILE`, `--events`). */
export interface EventsTarget {
  /** EventBridge bus name or ARN. */
  readonly bus?: string | undefined;
  /** A JSON-lines file, or `-` for stderr. */
  readonly file?: string | undefined;
  /** The region of the EventBridge client and of local lines. */
  readonly region?: string | undefined;
  /** Where a `file` of `-` writes; default `process.stderr`. */
  readonly stderr?: ((line: string) => void) | undefined;
}

/** What {@link setupEvents} needs besides the target. */
export interface EventsSetupDeps {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock?: Clock | undefined;
  /** Builds the DynamoDB client of the state; default `new DynamoDBClient(config)`. */
  readonly dynamoDbClient?: DynamoDbClientFactory | undefined;
  /** The state; default {@link eventStateFor} the cache settings. */
  readonly state?: EventState | undefined;
}

/** The sink of `target`, or undefined when it names none. */
export function sinkFor(target: EventsTarget): EventSink | undefined {
  if (target.bus !== undefined && target.bus !== '')
    return createEventBridgeSink({
      bus: target.bus,
      ...(target.region !== undefined && { config: { region: target.region } }),
    });
  if (target.file !== undefined && target.file !== '')
    return createJsonLinesSink({
      target: target.file,
      region: target.region,
      ...(target.stderr !== undefined && { stderr: { write: target.stderr } }),
    });
  return undefined;
}

/**
 * The state for the cache settings: items of the shared cache's table with `store:
 * dynamodb` (its client built on first use), else this process's memory.
 */
export function eventStateFor(
  settings: CacheSettings,
  deps: Pick<EventsSetupDeps, 'dynamoDbClient' | 'clock'> = {},
): EventState {
  if (settings.store !== 'dynamodb') return createMemoryEventState();
  let state: Promise<EventState> | undefined;
  const get = (): Promise<EventState> => {
    state ??= (async () => {
      const { createDynamoDbEventState } = await import('./dynamodb-state.ts');
      const client = await createDynamoDbClient(
        { region: settings.region, endpoint: settings.endpoint, timeoutMs: SHARED_CALL_TIMEOUT_MS },
        deps.dynamoDbClient,
      );
      return createDynamoDbEventState({
        client,
        table: settings.table,
        ...(deps.clock !== undefined && { clock: deps.clock }),
      });
    })().catch((error: unknown) => {
      state = undefined;
      throw error;
    });
    return state;
  };
  return {
    claim: async (key, fields) => (await get()).claim(key, fields),
    release: async (key) => (await get()).release(key),
    addFailure: async (key, at, fields) => (await get()).addFailure(key, at, fields),
    markNotified: async (key, at) => (await get()).markNotified(key, at),
    unmarkNotified: async (key) => (await get()).unmarkNotified(key),
    crossThreshold: async (key, notAfter, threshold) =>
      (await get()).crossThreshold(key, notAfter, threshold),
  };
}

/** The profiles' events for `target`, or undefined when it names no sink. */
export function setupEvents(target: EventsTarget, deps: EventsSetupDeps): ProfileEvents | undefined {
  const sink = sinkFor(target);
  if (sink === undefined) return undefined;
  return createProfileEvents({
    config: deps.config,
    sink,
    state: deps.state ?? eventStateFor(deps.config.cache, deps),
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.clock !== undefined && { clock: deps.clock }),
  });
}

/**
 * The events of the local server and `demo` (`--events`, else `TOKEN_BROKER_EVENTS_FILE`):
 * JSON lines appended to `file` (relative to `cwd`), or written to `stderr` for `-`; none
 * when unset.
 */
export function setupLocalEvents(
  file: string | undefined,
  where: { readonly cwd: string; readonly stderr: (line: string) => void },
  deps: EventsSetupDeps,
): ProfileEvents | undefined {
  if (file === undefined || file === '') return undefined;
  return setupEvents({ file: file === '-' ? '-' : resolve(where.cwd, file), stderr: where.stderr }, deps);
}
