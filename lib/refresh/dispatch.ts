/**
 * The scheduled refresh's fan-out (`refresh.shards`, serverless param): the scheduled
 * invocation is the dispatcher. It invokes the refresh function asynchronously once per
 * other shard (Lambda `Invoke`, `InvocationType: Event`, payload `{shard, shards}`) and
 * then refreshes shard 0 itself; each worker refreshes its shard's due tokens with the
 * run's bounded pool and deadline. With one shard nothing is invoked.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
 */
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { loadLambdaSdk } from '../aws/sdk.ts';
import { isShard, MAX_SHARDS, type Shard } from '../cache/due.ts';
import { BrokerError, ConfigError } from '../errors.ts';
import type { Logger } from '../types.ts';

/** Starts the worker of one shard; resolves once the invocation is queued. */
export type ShardInvoker = (shard: Shard) => Promise<void>;

/** What a worker invocation carries. */
export interface ShardEvent {
  readonly shard: number;
  readonly shards: number;
}

/** Asynchronous invocations sent at once by {@link dispatchShards}. */
const DISPATCH_CONCURRENCY = 16;

/**
 * The number of shards from its setting (`TOKEN_BROKER_REFRESH_SHARDS`); unset is 1.
 *
 * @throws ConfigError `ERR_CONFIG` when it is not a whole number from 1 to {@link MAX_SHARDS}.
 */
export function parseShardCount(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1;
  const count = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || !isShard({ index: 0, count })) {
    throw new ConfigError(
      'ERR_CONFIG',
      `refresh.shards must be a whole number from 1 to ${MAX_SHARDS}, got "${raw.slice(0, 20)}"; ` +
        'set it with --param="refresh.shards=N"',
    );
  }
  return count;
}

/** What the refresh function says about an event that is neither of its two shapes. */
export const REFUSED_EVENT_MESSAGE =
  'the refresh function acts only on its EventBridge schedule (source "aws.events", detail-type "Scheduled Event") ' +
  'or its own worker payload {"shard": i, "shards": n}; this event is neither, so nothing was refreshed or started';

/**
 * True for the EventBridge schedule's event (`source: aws.events`,
 * `detail-type: Scheduled Event`), the only event that may fan out.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
 */
export function isScheduledEvent(event: unknown): boolean {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false;
  const fields = event as Record<string, unknown>;
  return (
    fields['source'] === 'aws.events' && fields['detail-type'] === 'Scheduled Event' && !('shard' in fields)
  );
}

/**
 * The shard a worker invocation asks for (exactly `{shard, shards}`, as
 * {@link lambdaShardInvoker} sends it), or undefined for the schedule's own event.
 *
 * @throws BrokerError `ERR_INVALID_REQUEST` for any other event ({@link REFUSED_EVENT_MESSAGE}),
 *   or when `shard` is present but not a valid share.
 */
export function shardOf(event: unknown): Shard | undefined {
  if (isScheduledEvent(event)) return undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event) || !('shard' in event))
    throw new BrokerError('ERR_INVALID_REQUEST', REFUSED_EVENT_MESSAGE);
  const { shard, shards } = event as Record<string, unknown>;
  const candidate = { index: shard as number, count: shards as number };
  const onlyShardKeys = Object.keys(event).every((key) => key === 'shard' || key === 'shards');
  if (typeof shard !== 'number' || typeof shards !== 'number' || !isShard(candidate) || !onlyShardKeys) {
    throw new BrokerError(
      'ERR_INVALID_REQUEST',
      `a refresh worker event needs whole numbers {"shard": i, "shards": n} with 0 <= i < n <= ${MAX_SHARDS}`,
    );
  }
  return candidate;
}

/** What {@link dispatchShards} did. */
export interface DispatchOutcome {
  readonly invoked: number;
  readonly failed: number;
}

/**
 * Invokes the workers of shards 1 to `count - 1` (the caller runs shard 0). A failed
 * invocation is logged and counted, never thrown: its shard's tokens stay due and the
 * next run lists them.
 */
export async function dispatchShards(
  count: number,
  invoke: ShardInvoker,
  logger: Logger,
): Promise<DispatchOutcome> {
  const shards = Array.from({ length: Math.max(0, count - 1) }, (_, i) => ({ index: i + 1, count }));
  let next = 0;
  let invoked = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < shards.length) {
      const shard = shards[next++]!;
      try {
        await invoke(shard);
        invoked += 1;
      } catch (error) {
        failed += 1;
        const { code, reason } = describeFailure(error);
        logger.warn('refresh worker not started; its shard waits for the next run', {
          shard: shard.index,
          shards: count,
          code,
          reason,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DISPATCH_CONCURRENCY, shards.length) }, worker));
  if (shards.length > 0) logger.info('refresh workers started', { shards: count, invoked, failed });
  return { invoked, failed };
}

function describeFailure(error: unknown): { code: string; reason: string } {
  if (error instanceof BrokerError) return { code: error.code, reason: error.message };
  if (error instanceof Error) return { code: error.name, reason: error.message.slice(0, 200) };
  return { code: 'ERR_INTERNAL', reason: 'unexpected error' };
}

/**
 * A {@link ShardInvoker} that invokes `functionName` with `InvocationType: Event`.
 *
 * @throws BrokerError `ERR_INTERNAL` from the invoker when Lambda does not answer 202.
 */
export function lambdaShardInvoker(client: () => Promise<LambdaClient>, functionName: string): ShardInvoker {
  return async (shard) => {
    const { InvokeCommand } = await loadLambdaSdk();
    const payload: ShardEvent = { shard: shard.index, shards: shard.count };
    const output = await (
      await client()
    ).send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(payload)),
      }),
    );
    if (output.StatusCode !== 202) {
      throw new BrokerError(
        'ERR_INTERNAL',
        `Lambda answered ${output.StatusCode ?? 'no status'} to an asynchronous invocation of ${functionName} (202 expected)`,
      );
    }
  };
}
