/**
 * Deadlines of requests in flight on one timer. A timer per request (what middy's early
 * timeout sets) costs a `setTimeout` and a `clearTimeout` on every answer, a cost a
 * server answering cache hits feels; here a request adds an entry and removes it when it
 * settles, and one unref'd timer, armed for the earliest deadline, fires the overdue ones.
 */

/** A request's place among the deadlines; give it back with {@link Deadlines.settle}. */
export interface DeadlineEntry {
  readonly at: number;
  readonly fire: () => void;
}

/** Options of {@link Deadlines}. */
export interface DeadlinesOptions {
  /** Monotonic milliseconds; default `performance.now`. */
  readonly now?: () => number;
}

/** The deadlines of one route's requests in flight. */
export class Deadlines {
  readonly #pending = new Set<DeadlineEntry>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires; Infinity when none is armed. */
  #armedFor = Number.POSITIVE_INFINITY;

  constructor(options: DeadlinesOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
  }

  /** Calls `fire` once `ms` have passed, unless {@link settle} comes first. */
  add(ms: number, fire: () => void): DeadlineEntry {
    const entry = { at: this.#now() + Math.max(0, ms), fire };
    this.#pending.add(entry);
    if (entry.at < this.#armedFor) this.#arm(entry.at);
    return entry;
  }

  /** The request settled: its deadline no longer matters. The timer stays armed, unref'd. */
  settle(entry: DeadlineEntry): void {
    this.#pending.delete(entry);
  }

  /** Requests whose deadline has not fired or been settled. */
  get size(): number {
    return this.#pending.size;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#due(), Math.max(0, at - this.#now()));
    this.#timer.unref();
  }

  #due(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    const overdue: DeadlineEntry[] = [];
    for (const entry of this.#pending) {
      if (entry.at <= now) overdue.push(entry);
      else next = Math.min(next, entry.at);
    }
    for (const entry of overdue) this.#pending.delete(entry);
    if (next !== Number.POSITIVE_INFINITY) this.#arm(next);
    for (const entry of overdue) entry.fire();
  }
}

/**
 * `answer`, or the rejection `late()` gives once `ms` have passed (the answer goes on,
 * unawaited, as under middy's early timeout).
 */
export function beforeDeadline<T>(
  deadlines: Deadlines,
  answer: Promise<T>,
  ms: number,
  late: () => unknown,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const entry = deadlines.add(ms, () => reject(late()));
    answer.then(
      (value) => {
        deadlines.settle(entry);
        resolve(value);
      },
      (err: unknown) => {
        deadlines.settle(entry);
        reject(err);
      },
    );
  });
}
