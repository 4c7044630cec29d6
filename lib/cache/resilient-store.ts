/**
 * Keeps the shared store from ever failing a request: when DynamoDB is unavailable,
 * throttling or slow, each operation answers as if the shared cache were absent and the
 * broker carries on with its in-process cache and the upstream.
 */
import { networkCause } from '../aws/network-cause.ts';
import type { Clock, Logger, Metrics } from '../types.ts';
import { noMetrics, silentLogger } from '../types.ts';
import type { SharedTokenStore } from './types.ts';

/** At most one warning per this period, however many operations fall back. */
export const FALLBACK_WARNING_PERIOD_MS = 60_000;

/** An operation slower than this is abandoned and falls back (a dead endpoint must not stall requests). */
export const SHARED_CALL_TIMEOUT_MS = 1_000;

/**
 * `listDue` may read a few thousand due entries in pages (one Query per index slot); a
 * refresh run allows it this long. Callers never wait on it.
 */
export const LIST_DUE_TIMEOUT_MS = 10_000;

/** After this many consecutive failures the store is skipped for {@link CIRCUIT_COOL_DOWN_MS}. */
export const CIRCUIT_FAILURE_THRESHOLD = 5;

/** How long the store is skipped once the circuit opens; then one call tries again. */
export const CIRCUIT_COOL_DOWN_MS = 30_000;

/** Options of {@link createResilientStore}; every limit defaults to the constant of the same name. */
export interface ResilientStoreOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly timeoutMs?: number;
  readonly listTimeoutMs?: number;
  readonly warningPeriodMs?: number;
  readonly failureThreshold?: number;
  readonly coolDownMs?: number;
}

class SharedCallTimeout extends Error {
  override readonly name = 'SharedCallTimeout';
}

function withTimeout<T>(promise: Promise<T>, milliseconds: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new SharedCallTimeout(`no answer within ${milliseconds} ms`)),
      milliseconds,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(error: unknown): { error: string; reason: string } {
  const network = networkCause(error);
  if (error instanceof Error) return { error: error.name, reason: network ?? error.message.slice(0, 200) };
  return { error: typeof error, reason: '' };
}

/**
 * Wraps `inner` so that its failures never reach the caller: `get` and
 * `getConsentRequired` answer undefined, `listDue` an empty list, `acquireLease`,
 * `renewLease`, `put` and `claimProof` true and `claimForcedRefresh` `claimed` (this instance refreshes on its own and serves its token;
 * the broker's in-process single-flight still holds), `releaseLease`,
 * `putConsentRequired` and `touch` do nothing. Each fallback counts `SharedCacheFallbacks`; at most one warning is logged
 * per period. After consecutive failures the store is skipped for a cool-down.
 *
 * Never throws.
 */
export function createResilientStore(
  inner: SharedTokenStore,
  options: ResilientStoreOptions = {},
): SharedTokenStore {
  const clock = options.clock ?? Date.now;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noMetrics;
  const timeoutMs = options.timeoutMs ?? SHARED_CALL_TIMEOUT_MS;
  const listTimeoutMs = options.listTimeoutMs ?? LIST_DUE_TIMEOUT_MS;
  const warningPeriodMs = options.warningPeriodMs ?? FALLBACK_WARNING_PERIOD_MS;
  const failureThreshold = options.failureThreshold ?? CIRCUIT_FAILURE_THRESHOLD;
  const coolDownMs = options.coolDownMs ?? CIRCUIT_COOL_DOWN_MS;

  let consecutiveFailures = 0;
  let openUntil = Number.NEGATIVE_INFINITY;
  let lastWarningAt: number | undefined;
  let suppressed = 0;

  function fellBack(operation: string, error: unknown): void {
    metrics.count('SharedCacheFallbacks', 1, { operation });
    const now = clock();
    if (lastWarningAt !== undefined && now - lastWarningAt < warningPeriodMs) {
      suppressed++;
      return;
    }
    logger.warn('shared token cache unavailable; serving from the in-process cache and the upstream', {
      operation,
      ...(error === undefined
        ? { error: 'CircuitOpen', reason: 'skipped during cool-down' }
        : describe(error)),
      circuit: openUntil > now ? 'open' : 'closed',
      suppressedSinceLastWarning: suppressed,
    });
    lastWarningAt = now;
    suppressed = 0;
  }

  async function guarded<T>(
    operation: string,
    call: () => Promise<T>,
    fallback: T,
    limitMs = timeoutMs,
  ): Promise<T> {
    if (openUntil > clock()) {
      fellBack(operation, undefined);
      return fallback;
    }
    try {
      const value = await withTimeout(call(), limitMs);
      consecutiveFailures = 0;
      return value;
    } catch (error) {
      consecutiveFailures++;
      if (consecutiveFailures >= failureThreshold) openUntil = clock() + coolDownMs;
      fellBack(operation, error);
      return fallback;
    }
  }

  return {
    get: (key) => guarded('get', () => inner.get(key), undefined),
    // A failed put answers true: the caller serves its own token (there is nothing newer to take).
    put: (key, descriptor, token, holder) =>
      guarded('put', () => inner.put(key, descriptor, token, holder), true),
    acquireLease: (key, descriptor, holder, leaseMs) =>
      guarded('acquireLease', () => inner.acquireLease(key, descriptor, holder, leaseMs), true),
    // A failed renewal answers true: the holder carries on, as it would without a shared store.
    renewLease: (key, holder, leaseMs) =>
      guarded('renewLease', () => inner.renewLease(key, holder, leaseMs), true),
    getConsentRequired: (key) =>
      guarded('getConsentRequired', () => inner.getConsentRequired(key), undefined),
    putConsentRequired: (key, descriptor, consent) =>
      guarded('putConsentRequired', () => inner.putConsentRequired(key, descriptor, consent), undefined),
    releaseLease: (key, holder) => guarded('releaseLease', () => inner.releaseLease(key, holder), undefined),
    // As a failed acquireLease: this instance decides alone (its in-process rate limit still holds).
    claimForcedRefresh: (key, holder, leaseMs, obtainedAt, intervalMs) =>
      guarded(
        'claimForcedRefresh',
        () => inner.claimForcedRefresh(key, holder, leaseMs, obtainedAt, intervalMs),
        'claimed' as const,
      ),
    // The instance's own replay record (checked first) still refuses what it has seen.
    claimProof: (id, freshUntil) => guarded('claimProof', () => inner.claimProof(id, freshUntil), true),
    touch: (key) => guarded('touch', () => inner.touch(key), undefined),
    listDue: (query) => guarded('listDue', () => inner.listDue(query), [], listTimeoutMs),
  };
}
