import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createRefreshHandler } from '../../functions/refresh.ts';
import { ConfigError } from '../../lib/errors.ts';
import { runBounded } from '../../lib/refresh/pool.ts';
import {
  DEFAULT_CONCURRENCY,
  refreshWindow,
  START_MARGIN_MS,
  runScheduledRefresh,
  type RefreshDeps,
} from '../../lib/refresh/refresh.ts';
import { lambdaContext, SCHEDULED_EVENT } from '../functions/events.ts';
import { manualClock, recordingLogger, recordingMetrics } from '../support/shared-cache-fixtures.ts';
import {
  answerToken,
  configFrom,
  instance,
  refreshProfile,
  startScriptedEndpoint,
  type ScriptedEndpoint,
} from './support.ts';

const SUBJECTS = Array.from({ length: 10 }, (_, i) => `user${i}@example.com`);

let endpoint: ScriptedEndpoint | undefined;
afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
});

async function refreshDeps(tokenUrl: string, clock: () => number, subjects = SUBJECTS): Promise<RefreshDeps> {
  const config = configFrom(refreshProfile('demo', tokenUrl, { refresh: { subjects } }));
  const { broker, sharedStore } = await instance(config, {}, clock, { exchange: { maxAttempts: 1 } });
  return { config, broker, sharedStore, clock, logger: recordingLogger(), metrics: recordingMetrics() };
}

describe('scheduled refresh limits', () => {
  it(`runs at most ${DEFAULT_CONCURRENCY} refreshes at once and finishes them all`, async () => {
    // The endpoint holds requests until DEFAULT_CONCURRENCY are waiting (or all that are left),
    // so a fifth one in flight would be seen, and fewer would never be answered.
    const held: ServerResponse[] = [];
    let answered = 0;
    let most = 0;
    endpoint = await startScriptedEndpoint((_req, res) => {
      held.push(res);
      most = Math.max(most, held.length);
      if (held.length === Math.min(DEFAULT_CONCURRENCY, SUBJECTS.length - answered)) {
        for (const waiting of held.splice(0)) answerToken(waiting);
        answered += DEFAULT_CONCURRENCY;
      }
    });
    const deps = await refreshDeps(endpoint.url, Date.now);

    const summary = await runScheduledRefresh(deps, { startBy: Infinity, finishBy: Infinity });

    expect(summary).toEqual({ refreshed: SUBJECTS.length, skipped: 0, failed: {}, deferred: 0 });
    expect(most).toBe(DEFAULT_CONCURRENCY);
    expect(endpoint.count()).toBe(SUBJECTS.length);
  });

  it('starts no refresh once startBy has passed and defers the rest to the next run', async () => {
    const clock = manualClock(Date.now());
    // Each token request takes 10 s of the (injected) clock.
    endpoint = await startScriptedEndpoint((_req, res) => {
      clock.advance(10_000);
      answerToken(res);
    });
    const deps = await refreshDeps(endpoint.url, clock.now, SUBJECTS.slice(0, 6));

    const summary = await runScheduledRefresh(deps, {
      startBy: clock.now() + 25_000,
      finishBy: Infinity,
      concurrency: 1,
    });

    expect(summary).toEqual({ refreshed: 3, skipped: 0, failed: {}, deferred: 3 });
    expect(endpoint.count()).toBe(3);
    expect(recordingLoggerOf(deps).warnings()).toContainEqual(
      expect.objectContaining({
        message: 'scheduled refresh ran out of time; the rest waits for the next run',
        fields: { deferred: 3 },
      }),
    );
  });

  it('returns at finishBy while refreshes still hang, counting them as deferred', async () => {
    endpoint = await startScriptedEndpoint(() => undefined); // never answers
    const deps = await refreshDeps(endpoint.url, Date.now, SUBJECTS.slice(0, 6));

    const summary = await runScheduledRefresh(deps, {
      startBy: Date.now() + 60_000,
      finishBy: Date.now() + 300,
    });

    expect(summary).toEqual({ refreshed: 0, skipped: 0, failed: {}, deferred: 6 });
    expect(endpoint.count()).toBe(DEFAULT_CONCURRENCY);
  });

  it('rejects a concurrency below 1 as a programming error', async () => {
    await expect(
      runBounded([1], async () => undefined, {
        concurrency: 0,
        startBy: Infinity,
        finishBy: Infinity,
        clock: Date.now,
      }),
    ).rejects.toThrow(new TypeError('concurrency must be a whole number of at least 1, got 0'));
  });

  it('takes its window from the Lambda context: start until 30 s before the end, return 2 s before it', () => {
    expect(refreshWindow(1_000_000, 55_000)).toEqual({ startBy: 1_025_000, finishBy: 1_053_000 });
    expect(refreshWindow(1_000_000, 120_000)).toEqual({ startBy: 1_090_000, finishBy: 1_118_000 });
  });
});

function recordingLoggerOf(deps: RefreshDeps) {
  return deps.logger as ReturnType<typeof recordingLogger>;
}

describe('functions/refresh handler', () => {
  it('runs the refresh within the invocation and answers the summary, flushing metrics once', async () => {
    endpoint = await startScriptedEndpoint((_req, res) => answerToken(res));
    const deps = await refreshDeps(endpoint.url, Date.now, SUBJECTS.slice(0, 2));
    let flushed = 0;
    const handler = createRefreshHandler({
      runtime: async () => deps,
      logger: deps.logger,
      metrics: { ...deps.metrics, flush: () => (flushed += 1) },
    });

    const summary = await handler(SCHEDULED_EVENT, {
      ...lambdaContext(),
      getRemainingTimeInMillis: () => 55_000,
    });

    expect(summary).toEqual({ refreshed: 2, skipped: 0, failed: {}, deferred: 0 });
    expect(flushed).toBe(1);
    expect(endpoint.count()).toBe(2);
  });

  it('starts nothing when less than START_MARGIN_MS is left in the invocation', async () => {
    endpoint = await startScriptedEndpoint((_req, res) => answerToken(res));
    const deps = await refreshDeps(endpoint.url, Date.now, SUBJECTS.slice(0, 2));
    const handler = createRefreshHandler({
      runtime: async () => deps,
      logger: deps.logger,
      metrics: deps.metrics,
    });

    const summary = await handler(SCHEDULED_EVENT, {
      ...lambdaContext(),
      getRemainingTimeInMillis: () => START_MARGIN_MS,
    });

    expect(summary).toEqual({ refreshed: 0, skipped: 0, failed: {}, deferred: 2 });
    expect(endpoint.count()).toBe(0);
  });

  it('logs why the runtime could not be built and rejects with that error', async () => {
    const logger = recordingLogger();
    const error = new ConfigError('ERR_CONFIG', 'cache.sealKey is required with store: dynamodb');
    const handler = createRefreshHandler({
      runtime: () => Promise.reject(error),
      logger,
      metrics: recordingMetrics(),
    });

    await expect(handler(SCHEDULED_EVENT, lambdaContext())).rejects.toBe(error);
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: 'scheduled refresh could not start',
      fields: { code: 'ERR_CONFIG', reason: 'cache.sealKey is required with store: dynamodb' },
    });
  });
});
