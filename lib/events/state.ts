/**
 * The state that keeps an event from repeating while its condition holds: one small record
 * per (kind, profile[, subject]) whose every change is a conditional write, so that of many
 * instances seeing the same condition exactly one sends the event. Memory here (the local
 * server); DynamoDB in ./dynamodb-state.ts (the cache table).
 */
import { hash } from 'node:crypto';

/** The fields of a record: numbers and strings only (counts, times, codes). */
export type StateFields = Readonly<Record<string, string | number>>;

/**
 * The repeat-prevention records; every method is atomic per key. Each call takes the
 * emission's signal: at the emitter's time bound the request in flight is aborted, so none
 * outlives the handler that awaited the emission.
 */
export interface EventState {
  /** Creates `key` holding `fields` unless it exists. True when this call created it. */
  claim(key: string, fields: StateFields, signal?: AbortSignal): Promise<boolean>;
  /** Deletes `key`. What it held, or undefined when there was nothing. */
  release(key: string, signal?: AbortSignal): Promise<StateFields | undefined>;
  /**
   * Adds one to `failures` of `key` (creating it), keeps the first `since`, sets `fields`.
   * The record after the change.
   */
  addFailure(key: string, at: number, fields: StateFields, signal?: AbortSignal): Promise<StateFields>;
  /** Sets `notified` on an existing `key` unless it is set. True when this call set it. */
  markNotified(key: string, at: number, signal?: AbortSignal): Promise<boolean>;
  /** Clears `notified` (the event was not delivered), so the next change tries again. */
  unmarkNotified(key: string, signal?: AbortSignal): Promise<void>;
  /**
   * Records threshold `threshold` of the certificate ending `notAfter` unless this
   * certificate's record already holds that threshold or a lower one. True when this call
   * recorded it.
   */
  crossThreshold(key: string, notAfter: number, threshold: number, signal?: AbortSignal): Promise<boolean>;
}

/** What a record is about. */
export type StateKind = 'refresh' | 'consent' | 'certificate' | 'key';

/**
 * The key of a record: `event#<kind>#<profile>` and, per subject (and scope), `#` and the
 * first 16 hex digits of the SHA-256 of the parts (profile names never hold `#`; the
 * cache's own keys are base64url).
 */
export function stateKey(
  kind: StateKind,
  profile: string,
  ...parts: readonly (string | undefined)[]
): string {
  const base = `event#${kind}#${profile}`;
  if (parts.length === 0) return base;
  return `${base}#${hash('sha256', JSON.stringify(parts), 'hex').slice(0, 16)}`;
}

/** An {@link EventState} in this process's memory: for one instance (the local server, tests). */
export function createMemoryEventState(): EventState {
  const records = new Map<string, Record<string, string | number>>();
  return {
    async claim(key, fields) {
      if (records.has(key)) return false;
      records.set(key, { ...fields });
      return true;
    },
    async release(key) {
      const held = records.get(key);
      records.delete(key);
      return held;
    },
    async addFailure(key, at, fields) {
      const held = records.get(key) ?? { since: at, failures: 0 };
      const next = { ...held, ...fields, failures: Number(held['failures']) + 1 };
      records.set(key, next);
      return { ...next };
    },
    async markNotified(key, at) {
      const held = records.get(key);
      if (held === undefined || held['notified'] !== undefined) return false;
      held['notified'] = at;
      return true;
    },
    async unmarkNotified(key) {
      delete records.get(key)?.['notified'];
    },
    async crossThreshold(key, notAfter, threshold) {
      const held = records.get(key);
      if (held !== undefined && held['notAfter'] === notAfter && Number(held['threshold']) <= threshold)
        return false;
      records.set(key, { notAfter, threshold });
      return true;
    },
  };
}
