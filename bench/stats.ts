import { performance } from 'node:perf_hooks';

/** Summary of repeated measurements, in the unit they were taken in. */
export interface Summary {
  readonly min: number;
  readonly median: number;
  readonly p99: number;
  readonly runs: number;
}

/** min / median / p99 of a sample. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new TypeError('summarize needs at least one sample');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const mid = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, p99: at(0.99), runs: sorted.length };
}

/** Times `fn` `runs` times after `warmup` unmeasured runs; milliseconds per call. */
export async function timeAsync(
  fn: () => Promise<unknown>,
  runs: number,
  warmup = Math.min(20, runs),
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

/**
 * Times two functions interleaved (a, b, a, b…) so drift on a shared machine hits both
 * alike; milliseconds per call for each.
 */
export async function timeInterleaved(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  runs: number,
  warmup = Math.min(20, runs),
): Promise<{ a: number[]; b: number[] }> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const sa: number[] = [];
  const sb: number[] = [];
  for (let i = 0; i < runs; i++) {
    let start = performance.now();
    await a();
    sa.push(performance.now() - start);
    start = performance.now();
    await b();
    sb.push(performance.now() - start);
  }
  return { a: sa, b: sb };
}
