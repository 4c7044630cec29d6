/**
 * The scheduled refresh (serverless.yml `functions.refresh`, EventBridge `rate(1 minute)`):
 * refreshes the tokens that are due before callers ask for them, inside the function's
 * timeout, emits `CertificateDaysLeft` per profile, and answers a summary
 * `{refreshed, skipped, failed: {CODE: n}, deferred}`; with a bus set, the profiles' events
 * (Token Refresh Failed/Recovered, Certificate Expiring; lib/events) go out before it
 * returns. The scheduled event first starts the workers of the other shards
 * (`refresh.shards`, lib/refresh/dispatch.ts) and then refreshes shard 0; a worker event
 * `{shard, shards}` refreshes that shard. Any other event is refused
 * (`ERR_INVALID_REQUEST`, one log line) and starts nothing.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { TokenBroker } from '../lib/broker/index.ts';
import type { FlushableMetrics } from '../lib/http/stack.ts';
import {
  refreshWindow,
  runScheduledRefresh,
  type RefreshDeps,
  type RefreshSummary,
} from '../lib/refresh/refresh.ts';
import { reportCertificateDays } from '../lib/refresh/certificate-days.ts';
import { dispatchShards, shardOf, type ShardInvoker } from '../lib/refresh/dispatch.ts';
import { getRuntime, runtimeFanOut, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Clock, Logger } from '../lib/types.ts';

/** What the refresh handler needs; `runtime` is built lazily (cold start). */
export interface RefreshHandlerDeps {
  readonly runtime: () => Promise<
    Pick<RefreshDeps, 'config' | 'sharedStore' | 'events'> & {
      broker: RefreshDeps['broker'] & Partial<Pick<TokenBroker, 'certificateExpiry'>>;
    }
  >;
  readonly logger: Logger;
  readonly metrics: FlushableMetrics;
  readonly clock?: Clock | undefined;
  /** Refreshes at once; default lib/refresh `DEFAULT_CONCURRENCY`. */
  readonly concurrency?: number | undefined;
  /** The shard count and how to start a worker; default one shard (nothing to start). */
  readonly fanOut?: (() => { readonly shards: number; readonly invoke: ShardInvoker }) | undefined;
}

/** The scheduled handler: an event in, a summary out. */
export type RefreshHandler = (
  event: ScheduledEvent | { shard: number; shards: number },
  context: Context,
) => Promise<RefreshSummary>;

type RefreshEvent = Parameters<RefreshHandler>[0];

function flushMetrics(metrics: FlushableMetrics, logger: Logger): MiddlewareObj<RefreshEvent> {
  return {
    // A value returned from a middy middleware would replace the response: return nothing.
    after: () => {
      metrics.flush?.();
    },
    onError: (request) => {
      const error = request.error as { code?: string; message?: string } | null;
      // An event that is neither the schedule nor a worker payload (lib/refresh/dispatch.ts).
      if (error?.code === 'ERR_INVALID_REQUEST') {
        logger.error('refresh event refused', { code: error.code, reason: error.message ?? '' });
        metrics.flush?.();
        return;
      }
      // Otherwise only a runtime that cannot be built gets here (configuration, seal key): say which.
      logger.error('scheduled refresh could not start', {
        code: error?.code ?? 'ERR_INTERNAL',
        reason: error?.code === undefined ? 'unexpected error' : error.message,
      });
      metrics.flush?.();
    },
  };
}

/** Builds the scheduled refresh handler. */
export function createRefreshHandler(deps: RefreshHandlerDeps): RefreshHandler {
  const clock = deps.clock ?? Date.now;
  const wrapped = middy<RefreshEvent, RefreshSummary>()
    .use(flushMetrics(deps.metrics, deps.logger))
    .handler(async (event, context) => {
      const window = refreshWindow(clock(), context.getRemainingTimeInMillis());
      let shard = shardOf(event);
      const { config, broker, sharedStore, events } = await deps.runtime();
      let certificates: Promise<unknown> = Promise.resolve();
      if (shard === undefined) {
        const fanOut = deps.fanOut?.() ?? { shards: 1, invoke: async () => undefined };
        await dispatchShards(fanOut.shards, fanOut.invoke, deps.logger);
        shard = { index: 0, count: fanOut.shards };
        // Once per schedule: the dispatcher's run, not every worker's. Beside the refreshes,
        // not before them, so one costly key opening does not hold every refresh back; both
        // end before the handler does.
        const { certificateExpiry } = broker;
        if (certificateExpiry)
          certificates = reportCertificateDays({
            config,
            certificateExpiry: (profile) => certificateExpiry.call(broker, profile),
            metrics: deps.metrics,
            logger: deps.logger,
            now: clock(),
            events,
          });
      }
      const [summary] = await Promise.all([
        runScheduledRefresh(
          { config, broker, sharedStore, clock, logger: deps.logger, metrics: deps.metrics, events },
          {
            ...window,
            shard,
            ...(deps.concurrency === undefined ? {} : { concurrency: deps.concurrency }),
          },
        ),
        certificates,
      ]);
      return summary;
    });
  return (event, context) => wrapped(event, context);
}

/** The Lambda entry point (serverless.yml `functions.refresh`). */
export const handler: RefreshHandler = createRefreshHandler({
  runtime: getRuntime,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
  fanOut: runtimeFanOut,
});
