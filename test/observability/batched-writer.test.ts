import { describe, expect, it } from 'vitest';
import { createBatchedWriter, MAX_BATCHED_BYTES } from '../../lib/observability/batched-writer.ts';

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('batched log writer', () => {
  it('writes the lines of one turn of the event loop in one write, in order', async () => {
    const writes: string[] = [];
    const writer = createBatchedWriter((text) => writes.push(text));
    writer.write('a\n');
    writer.write('b\n');
    expect(writes).toEqual([]);
    await turn();
    expect(writes).toEqual(['a\nb\n']);
    writer.write('c\n');
    await turn();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
  });

  it('writes at once when the queue grows past its bound, and on flush', () => {
    const writes: string[] = [];
    const writer = createBatchedWriter((text) => writes.push(text));
    writer.write('x'.repeat(MAX_BATCHED_BYTES));
    expect(writes).toHaveLength(1);
    writer.write('tail\n');
    writer.flush();
    expect(writes).toEqual(['x'.repeat(MAX_BATCHED_BYTES), 'tail\n']);
    writer.flush();
    expect(writes).toHaveLength(2);
  });
});
