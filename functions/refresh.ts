/**
 * The scheduled refresh (serverless.yml `functions.refresh`, EventBridge `rate(1 minute)`):
 * refreshes the tokens that are due before callers ask for them, inside the function's
 * timeout, emits `CertificateDaysLeft` per profile, and answers a summary `{refreshed, skipped, failed: {CODE: n}, deferred}`.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { TokenBroker } from '../lib/broker.ts';
import type { FlushableMetrics } from '../lib/http/stack.ts';
import {
  refreshWindow,
  runScheduledRefresh,
  type RefreshDeps,
  type RefreshSummary,
} from '../lib/refresh/refresh.ts';
import { reportCertificateDays } from '../lib/refresh/certificate-days.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Clock, Logger } from '../lib/types.ts';

/** What the refresh handler needs; `runtime` is built lazily (cold start). */
export interface RefreshHandlerDeps {
  readonly runtime: () => Promise<
    Pick<RefreshDeps, 'config' | 'sharedStore'> & {
      broker: RefreshDeps['broker'] & Partial<Pick<TokenBroker, 'certificateExpiry'>>;
    }
  >;
  readonly logger: Logger;
  readonly metrics: FlushableMetrics;
  readonly clock?: Clock | undefined;
  /** Refreshes at once; default lib/refresh `DEFAULT_CONCURRENCY`. */
  readonly concurrency?: number | undefined;
}

/** The scheduled handler: an event in, a summary out. */
export type RefreshHandler = (event: ScheduledEvent, context: Context) => Promise<RefreshSummary>;

function flushMetrics(metrics: FlushableMetrics, logger: Logger): MiddlewareObj<ScheduledEvent> {
  return {
    // A value returned from a middy middleware would replace the response: return nothing.
    after: () => {
      metrics.flush?.();
    },
    onError: (request) => {
      // Only a runtime that cannot be built gets here (configuration, seal key): say which.
      const error = request.error as { code?: string; message?: string } | null;
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
  const wrapped = middy<ScheduledEvent, RefreshSummary>()
    .use(flushMetrics(deps.metrics, deps.logger))
    .handler(async (_event, context) => {
      const { config, broker, sharedStore } = await deps.runtime();
      const { certificateExpiry } = broker;
      if (certificateExpiry)
        await reportCertificateDays({
          config,
          certificateExpiry: (profile) => certificateExpiry.call(broker, profile),
          metrics: deps.metrics,
          logger: deps.logger,
          now: clock(),
        });
      return runScheduledRefresh(
        { config, broker, sharedStore, clock, logger: deps.logger, metrics: deps.metrics },
        {
          ...refreshWindow(clock(), context.getRemainingTimeInMillis()),
          ...(deps.concurrency === undefined ? {} : { concurrency: deps.concurrency }),
        },
      );
    });
  return (event, context) => wrapped(event, context);
}

/** The Lambda entry point (serverless.yml `functions.refresh`). */
export const handler: RefreshHandler = createRefreshHandler({
  runtime: getRuntime,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
