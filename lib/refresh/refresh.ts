/**
 * The scheduled refresh (serverless.yml `functions.refresh`, every minute): obtains new
 * tokens before callers need them, so callers are served from the shared cache and
 * never wait for the token endpoint.
 */
import { randomUUID } from 'node:crypto';
import type { TokenBroker } from '../broker/index.ts';
import { ALL_KEYS, type Shard } from '../cache/due.ts';
import { DEFAULT_MAX_HOLD_MS } from '../cache/shared-flight.ts';
import { insideMargin } from '../cache/token-cache.ts';
import type { SharedTokenStore } from '../cache/types.ts';
import type { BrokerConfig } from '../config/types.ts';
import { BrokerError, UpstreamRejected } from '../errors.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import type { Clock, Logger, Metrics } from '../types.ts';
import { runBounded } from './pool.ts';
import { collectTargets, failureOf, type RefreshTarget } from './targets.ts';

/** Refreshes running at once: enough to overlap token endpoints, few enough to be polite. */
export const DEFAULT_CONCURRENCY = 4;

/** Shared entries served to a caller within this window count as in use, milliseconds. */
export const DEFAULT_USED_WITHIN_MS = 60 * 60_000;

/**
 * No refresh starts later than this before the function's timeout: one refresh may take
 * the token endpoint's whole deadline (25 s, lib/exchange) plus shared-store calls.
 */
export const START_MARGIN_MS = 30_000;

/** The run returns this long before the function's timeout, whatever is still running. */
export const FINISH_MARGIN_MS = 2_000;

/** What one run did. */
export interface RefreshSummary {
  /** Tokens obtained from the token endpoint. */
  readonly refreshed: number;
  /** Targets that needed nothing: fresh, refreshed by another instance meanwhile, or orphaned entries. */
  readonly skipped: number;
  /** Failures by error code. */
  readonly failed: Readonly<Record<string, number>>;
  /** Targets not started or not finished before the deadline; the next run picks them up. */
  readonly deferred: number;
}

/** What {@link runScheduledRefresh} needs. */
export interface RefreshDeps {
  readonly config: BrokerConfig;
  readonly broker: Pick<TokenBroker, 'refresh' | 'describe'>;
  /** The shared cache; without one only the profiles' `refresh` targets are looked at. */
  readonly sharedStore: SharedTokenStore | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `Token Refresh Failed` / `Recovered` (lib/events); none without. */
  readonly events?: ProfileEvents | undefined;
}

/** Limits of one run. */
export interface RefreshOptions {
  /** No refresh starts at or after this time (epoch ms). */
  readonly startBy: number;
  /** The run returns at this time (epoch ms). */
  readonly finishBy: number;
  /** Default {@link DEFAULT_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Default {@link DEFAULT_USED_WITHIN_MS}. */
  readonly usedWithinMs?: number;
  /** Lease taken around an early refresh (not renewed); default {@link DEFAULT_MAX_HOLD_MS}, the longest one refresh may take. */
  readonly leaseMs?: number;
  /** The share of the keys this run refreshes; default all of them ({@link ALL_KEYS}). */
  readonly shard?: Shard;
}

/**
 * The window of a run for a function with `remainingMs` left: start work until
 * {@link START_MARGIN_MS} before the end, return {@link FINISH_MARGIN_MS} before it.
 * A function whose timeout is not above {@link START_MARGIN_MS} starts nothing.
 */
export function refreshWindow(now: number, remainingMs: number): { startBy: number; finishBy: number } {
  return {
    startBy: now + remainingMs - START_MARGIN_MS,
    finishBy: now + remainingMs - FINISH_MARGIN_MS,
  };
}

type Outcome = 'refreshed' | 'skipped' | { readonly code: string; readonly message: string };

/** Tells the events of one target's outcome (a token obtained, or a failure with the provider's answer), ending by `until`. */
async function reportOutcome(
  events: ProfileEvents,
  target: RefreshTarget,
  result: Outcome,
  error: unknown,
  until: number,
): Promise<void> {
  const about = { profile: target.profile, subject: target.descriptor.subject, scope: target.scope };
  if (result === 'refreshed') return events.refreshSucceeded(about, until);
  if (result === 'skipped') return undefined;
  const retryAfter = error instanceof BrokerError ? error.details['retry_after'] : undefined;
  return events.refreshFailed(
    about,
    {
      code: result.code,
      error: error instanceof UpstreamRejected ? error.error : undefined,
      retryAfter: typeof retryAfter === 'number' ? retryAfter : undefined,
    },
    until,
  );
}

/**
 * Refreshes every target that is due: the profiles' `refresh` subjects and the shared
 * entries used within `usedWithinMs`, when their token is missing or expires within the
 * profile's `refresh.before` (else `cache.refreshMargin`). Every refresh goes through
 * `broker.refresh`, so the shared-store lease keeps it to one request across instances;
 * one that starts earlier than the cache's own margin takes that lease itself. One
 * failure never stops the others; each is logged and counted (`RefreshFailures` by code).
 *
 * Never throws: failures are counted in the summary, which is also logged.
 */
export async function runScheduledRefresh(
  deps: RefreshDeps,
  options: RefreshOptions,
): Promise<RefreshSummary> {
  const { config, broker, sharedStore, clock, logger, metrics } = deps;
  const holder = `refresh:${randomUUID()}`;
  const leaseMs = options.leaseMs ?? DEFAULT_MAX_HOLD_MS;
  const cacheMarginMs = config.cache.refreshMargin * 1000;
  const now = clock();
  const { targets, problems, ignored } = await collectTargets(
    { config, broker, sharedStore, logger },
    {
      now,
      usedSince: now - (options.usedWithinMs ?? DEFAULT_USED_WITHIN_MS),
      shard: options.shard ?? ALL_KEYS,
    },
  );

  let refreshed = 0;
  let skipped = ignored;
  const failed: Record<string, number> = {};
  const fail = (code: string, fields: { profile: string; subject: string | undefined }, message: string) => {
    failed[code] = (failed[code] ?? 0) + 1;
    metrics.count('RefreshFailures', 1, { profile: fields.profile, code });
    logger.warn('scheduled refresh failed', {
      profile: fields.profile,
      subject: fields.subject,
      code,
      reason: message,
    });
  };
  for (const problem of problems) fail(problem.code, problem, problem.message);

  async function attempt(target: RefreshTarget): Promise<Outcome> {
    const request = { profile: target.profile, subject: target.subject, scope: target.scope };
    const token = target.listed ? target.listed.token : await sharedStore?.get(target.key);
    const at = clock();
    if (token === undefined || insideMargin(token, cacheMarginMs, at)) {
      // Missing, or stale for the broker too: its own refresh takes the lease.
      return (await broker.refresh(request)).cached ? 'skipped' : 'refreshed';
    }
    if (!insideMargin(token, target.beforeMs, at) || !sharedStore) return 'skipped';
    // Due by the profile's `refresh.before` but still fresh for the cache: force it, under a lease.
    if (!(await sharedStore.acquireLease(target.key, target.descriptor, holder, leaseMs))) return 'skipped';
    try {
      return (await broker.refresh({ ...request, force: true })).cached ? 'skipped' : 'refreshed';
    } finally {
      await sharedStore.releaseLease(target.key, holder);
    }
  }

  const pending = new Set(targets);
  const outcome = await runBounded(
    targets,
    async (target) => {
      let result: Outcome;
      let error: unknown;
      try {
        result = await attempt(target);
      } catch (thrown) {
        error = thrown;
        result = failureOf(thrown);
      }
      // A refresh that ends after the run returned is not counted in its summary.
      if (!pending.delete(target)) return;
      if (result === 'refreshed') refreshed += 1;
      else if (result === 'skipped') skipped += 1;
      else fail(result.code, target, result.message);
      // Events end by the run's finishBy too: the run stops waiting for its items then.
      if (deps.events) await reportOutcome(deps.events, target, result, error, options.finishBy);
    },
    {
      concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      startBy: options.startBy,
      finishBy: options.finishBy,
      clock,
    },
  );
  const deferred = pending.size;
  pending.clear();
  const summary: RefreshSummary = { refreshed, skipped, failed: { ...failed }, deferred };
  logger.info('scheduled refresh finished', {
    targets: targets.length + problems.length,
    started: outcome.started,
    refreshed,
    skipped,
    failures: Object.values(failed).reduce((sum, n) => sum + n, 0),
    failed: JSON.stringify(failed),
    deferred,
  });
  if (deferred > 0) {
    logger.warn('scheduled refresh ran out of time; the rest waits for the next run', { deferred });
  }
  return summary;
}
