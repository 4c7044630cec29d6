/**
 * Runs work items with bounded concurrency inside a time window: no item starts after
 * `startBy`, and the run stops waiting at `finishBy` even while items are still running.
 */
import type { Clock } from '../types.ts';

/** The longest delay `setTimeout` honours; past it Node fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link runBounded}. */
export interface PoolOptions {
  /** Items running at once, at least 1. */
  readonly concurrency: number;
  /** No item starts at or after this time (epoch ms, by `clock`). */
  readonly startBy: number;
  /** The run resolves at this time (epoch ms, by `clock`) with the items still running left behind. */
  readonly finishBy: number;
  readonly clock: Clock;
}

/** What a run did. */
export interface PoolOutcome {
  /** Items that were started. */
  readonly started: number;
  /** Started items that settled before the run resolved. */
  readonly settled: number;
}

/**
 * Calls `work` on each item, at most `concurrency` at a time, in order. `work` should
 * not reject; a rejection is swallowed so that one item never stops the others.
 *
 * @throws TypeError when `concurrency` is not a whole number of at least 1.
 */
export async function runBounded<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
  options: PoolOptions,
): Promise<PoolOutcome> {
  const { concurrency, startBy, finishBy, clock } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError(`concurrency must be a whole number of at least 1, got ${concurrency}`);
  }
  let next = 0;
  let settled = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && clock() < startBy) {
      const item = items[next]!;
      next += 1;
      await work(item).catch(() => undefined);
      settled += 1;
    }
  };
  const workers = Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));

  const wait = finishBy - clock();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (Number.isFinite(wait) && wait <= MAX_TIMER_MS) {
    const cutOff = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, wait));
    });
    await Promise.race([workers, cutOff]).finally(() => clearTimeout(timer));
  } else {
    await workers;
  }
  return { started: next, settled };
}
