/**
 * The events' sink off AWS (the local server, `demo`): each event as one JSON line in the
 * shape EventBridge delivers to a rule's target, appended to a file or written to stderr,
 * so a team can try its rule's event pattern on them. `token-broker events` reads them back.
 */
import { randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { EVENT_SOURCE, type BrokerEvent, type DeliveredEvent } from './schema.ts';
import type { EventSink } from './sink.ts';

/** The `account` of local events: not an AWS account. */
export const LOCAL_ACCOUNT = '000000000000';

/** Options of {@link createJsonLinesSink}. */
export interface JsonLinesSinkOptions {
  /** A file path (appended to), or `-` for stderr. */
  readonly target: string;
  /** The `region` of the lines; default `local`. */
  readonly region?: string | undefined;
  /** Where `-` writes; default `process.stderr`. */
  readonly stderr?: { write(line: string): unknown };
}

/** The event as EventBridge would deliver it. */
export function deliveredEvent(event: BrokerEvent, region = 'local'): DeliveredEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': event.detailType,
    source: EVENT_SOURCE,
    account: LOCAL_ACCOUNT,
    time: event.detail.at.replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [],
    detail: event.detail,
  };
}

/** A sink writing one JSON line per event to `options.target`. */
export function createJsonLinesSink(options: JsonLinesSinkOptions): EventSink {
  // Lines to a file are appended one after the other, so that concurrent sends never interleave.
  let queue: Promise<void> = Promise.resolve();
  return {
    send(event) {
      const line = `${JSON.stringify(deliveredEvent(event, options.region))}\n`;
      if (options.target === '-') {
        (options.stderr ?? process.stderr).write(line);
        return Promise.resolve();
      }
      const written = queue.then(() => appendFile(options.target, line, { mode: 0o600 }));
      queue = written.catch(() => undefined);
      return written;
    },
  };
}

/** What `token-broker events` keeps. */
export interface EventFilter {
  readonly profile?: string | undefined;
  readonly type?: string | undefined;
}

/**
 * The event of one line when it is a broker event that passes `filter`; undefined for a
 * blank line, a line that is not one, or one filtered out. `type` matches the detail type
 * without regard to case, spaces or dashes (`key-rejected` is `Key Rejected`).
 */
export function parseEventLine(line: string, filter: EventFilter = {}): DeliveredEvent | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const event = parsed as Partial<DeliveredEvent>;
  if (event.source !== EVENT_SOURCE || typeof event['detail-type'] !== 'string') return undefined;
  if (typeof event.detail !== 'object' || event.detail === null) return undefined;
  if (filter.profile !== undefined && event.detail.profile !== filter.profile) return undefined;
  if (filter.type !== undefined && typeName(event['detail-type']) !== typeName(filter.type)) return undefined;
  return event as DeliveredEvent;
}

function typeName(value: string): string {
  return value.toLowerCase().replace(/[\s_-]+/g, '');
}
