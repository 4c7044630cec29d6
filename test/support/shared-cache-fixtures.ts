/** Descriptors, tokens, a recording logger and metrics for the shared-cache tests. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { CachedToken, TokenDescriptor } from '../../lib/cache/types.ts';
import type { LogFields, Logger, Metrics, MetricName } from '../../lib/types.ts';

export function descriptorFor(subject: string, scopes: readonly string[] = ['signature']): TokenDescriptor {
  return {
    profile: 'docusign',
    issuer: 'client-1234',
    subject,
    audience: 'account-d.docusign.com',
    grant: 'jwt-bearer',
    scopes,
    endpoint: 'POST https://account-d.docusign.com/oauth/token',
    variant: '',
  };
}

/** A unique cache key (keys are opaque strings to the store). */
export function uniqueKey(label = 'key'): string {
  return `${label}:${randomUUID()}`;
}

/** A token whose access token is a distinctive secret-looking string. */
export function tokenAt(now: number, lifetimeMs = 3_600_000): CachedToken {
  return {
    accessToken: `at-SECRET-${randomBytes(12).toString('hex')}`,
    tokenType: 'Bearer',
    expiresAt: now + lifetimeMs,
    scope: 'signature',
    obtainedAt: now,
  };
}

/**
 * One counted upstream: each load returns `tok-1`, `tok-2`, … obtained at the clock's now,
 * living an hour; `calls()` says how many loads there were.
 */
export function countingUpstream(clock: { now: () => number }): {
  load: () => Promise<CachedToken>;
  calls: () => number;
} {
  let calls = 0;
  const load = async (): Promise<CachedToken> => {
    calls += 1;
    const now = clock.now();
    return {
      accessToken: `tok-${calls}`,
      tokenType: 'Bearer',
      expiresAt: now + 3_600_000,
      scope: undefined,
      obtainedAt: now,
    };
  };
  return { load, calls: () => calls };
}

export function randomSealKey(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields | undefined;
}

export function recordingLogger(): Logger & { readonly lines: LogLine[]; warnings(): LogLine[] } {
  const lines: LogLine[] = [];
  const record =
    (level: LogLine['level']) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, fields });
    };
  return {
    lines,
    warnings: () => lines.filter((line) => line.level === 'warn'),
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  };
}

export interface CountedMetric {
  readonly name: MetricName;
  readonly value: number;
  readonly dimension: Readonly<Record<string, string>> | undefined;
}

export function recordingMetrics(): Metrics & {
  readonly counts: CountedMetric[];
  total(name: MetricName): number;
} {
  const counts: CountedMetric[] = [];
  return {
    counts,
    total: (name) => counts.filter((c) => c.name === name).reduce((sum, c) => sum + c.value, 0),
    count: (name, value = 1, dimension) => {
      counts.push({ name, value, dimension });
    },
    timing: () => undefined,
  };
}

/** A clock the test moves by hand. */
export function manualClock(start = Date.UTC(2026, 0, 1)): { now: () => number; advance(ms: number): void } {
  let current = start;
  return {
    now: () => current,
    advance: (ms) => {
      current += ms;
    },
  };
}
