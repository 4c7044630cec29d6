/**
 * Test setup (vitest `setupFiles`): what the code under test writes straight to
 * process.stdout or process.stderr (JSON log lines, EMF documents, a forked instance's
 * output piped here) is held per test and printed only when that test fails. Writes made
 * outside a test (module load, beforeAll/afterAll) are held per file and printed when any
 * test of the file failed. console.* output is vitest's own: `silent: 'passed-only'` in
 * vitest.config.ts treats it the same way.
 */
import { afterAll, afterEach, beforeEach } from 'vitest';

type Write = typeof process.stdout.write;

interface Held {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
}

const original = {
  stdout: process.stdout.write.bind(process.stdout),
  stderr: process.stderr.write.bind(process.stderr),
};

/** The current test's writes; undefined between tests, when writes go to `fileLevel`. */
let current: Held[] | undefined;
const fileLevel: Held[] = [];
let anyFailed = false;

function textOf(chunk: Uint8Array | string, encoding: unknown): string {
  if (typeof chunk === 'string') return chunk;
  return Buffer.from(chunk).toString(typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
}

function holding(stream: 'stdout' | 'stderr'): Write {
  return ((chunk: Uint8Array | string, encoding?: unknown, callback?: unknown) => {
    (current ?? fileLevel).push({ stream, text: textOf(chunk, encoding) });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  }) as Write;
}

function print(title: string, held: readonly Held[]): void {
  if (held.length === 0) return;
  original.stderr(`\n--- output held for ${title} ---\n`);
  for (const { stream, text } of held) original[stream](text);
  original.stderr(`--- end of output held for ${title} ---\n`);
}

process.stdout.write = holding('stdout');
process.stderr.write = holding('stderr');

beforeEach((context) => {
  const mine: Held[] = [];
  current = mine;
  context.onTestFailed(() => {
    anyFailed = true;
    print(`${context.task.file.name} > ${context.task.name}`, mine);
  });
});

afterEach(() => {
  current = undefined;
});

afterAll(() => {
  if (anyFailed) print('this file outside its tests', fileLevel);
  fileLevel.length = 0;
});
