/**
 * Log lines gathered and written once per turn of the event loop. A server under load
 * then makes one write for many requests instead of one (synchronous, for a file or a
 * terminal) per line, which is most of what logging costs it.
 */
export interface BatchedWriter {
  /** Queues a line; it is written on the next turn of the event loop. */
  readonly write: (line: string) => void;
  /** Writes what is queued now (before exit). */
  readonly flush: () => void;
}

/** Lines queued beyond this are written at once rather than waiting for the turn to end. */
export const MAX_BATCHED_BYTES = 64 * 1024;

/** Wraps `sink` so lines are written in batches. */
export function createBatchedWriter(sink: (text: string) => void): BatchedWriter {
  let queued: string[] = [];
  let bytes = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (queued.length === 0) return;
    const text = queued.join('');
    queued = [];
    bytes = 0;
    sink(text);
  };
  return {
    write: (line) => {
      queued.push(line);
      bytes += line.length;
      if (bytes >= MAX_BATCHED_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
