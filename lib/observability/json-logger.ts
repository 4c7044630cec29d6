/**
 * A small structured logger for the local server and CLI: one JSON object per line,
 * written through an injected function (no console, no global state).
 */
import type { LogFields, Logger } from '../types.ts';
import type { LogLevelName } from './powertools.ts';

const RANK: Readonly<Record<LogLevelName, number>> = {
  DEBUG: 10,
  INFO: 20,
  WARN: 30,
  ERROR: 40,
  SILENT: 100,
};

/** Options of {@link createJsonLogger}. */
export interface JsonLoggerOptions {
  /** Receives each line, newline included (e.g. `(l) => process.stderr.write(l)`). */
  readonly write: (line: string) => void;
  /** Lowest level written; default INFO. */
  readonly level?: LogLevelName;
  readonly service?: string;
  /** Epoch milliseconds; default `Date.now`. */
  readonly clock?: () => number;
}

/**
 * A {@link Logger} writing `{"level","message","service","timestamp",...fields}` lines.
 * Fields cannot overwrite the four base keys.
 */
export function createJsonLogger(options: JsonLoggerOptions): Logger {
  const threshold = RANK[options.level ?? 'INFO'];
  const clock = options.clock ?? Date.now;
  const service = options.service ?? 'token-broker';
  // The timestamp of the last millisecond written: a busy server writes many lines in one.
  let stampedAt = Number.NaN;
  let stamp = '';
  const log =
    (level: Exclude<LogLevelName, 'SILENT'>) =>
    (message: string, fields?: LogFields): void => {
      if (RANK[level] < threshold) return;
      const now = clock();
      if (now !== stampedAt) {
        stampedAt = now;
        stamp = new Date(now).toISOString();
      }
      const base = { level, message, service, timestamp: stamp };
      // The same object as `{ ...fields, ...base }`, built by Object.assign: a spread of an
      // audit line's thirteen keys makes a dictionary-mode object that JSON.stringify takes
      // about four times as long to write. An own `__proto__` field would set the copy's
      // prototype instead of becoming a key, so such fields are spread.
      const line =
        fields !== undefined && Object.hasOwn(fields, '__proto__')
          ? { ...fields, ...base }
          : Object.assign({}, fields, base);
      options.write(`${JSON.stringify(line)}\n`);
    };
  return {
    debug: log('DEBUG'),
    info: log('INFO'),
    warn: log('WARN'),
    error: log('ERROR'),
    isDebugEnabled: () => RANK.DEBUG >= threshold,
  };
}
