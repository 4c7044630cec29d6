import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../lib/observability/json-logger.ts';
import type { LogFields } from '../../lib/types.ts';

/** The line as the logger has always defined it: the fields, then the four base keys. */
function reference(fields: LogFields | undefined, level: string, message: string, at: number): string {
  return `${JSON.stringify({
    ...fields,
    level,
    message,
    service: 'token-broker',
    timestamp: new Date(at).toISOString(),
  })}\n`;
}

function lineOf(fields: LogFields | undefined, at: number): string {
  const lines: string[] = [];
  createJsonLogger({ write: (l) => lines.push(l), clock: () => at }).warn('m', fields);
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined));
const key = fc.oneof(
  fc.string(),
  fc.constantFrom('level', 'message', 'service', 'timestamp', '0', '12', 'constructor', 'toJSON'),
);

describe('JSON logger line', () => {
  it('is byte for byte the fields followed by level, message, service and timestamp, for any fields', () => {
    fc.assert(
      fc.property(
        fc.dictionary(key, value, { maxKeys: 20 }),
        fc.integer({ min: 0, max: 4e12 }),
        (fields, at) => {
          expect(lineOf(fields as LogFields, at)).toBe(reference(fields as LogFields, 'WARN', 'm', at));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps its base keys and an own __proto__ field as a plain key, never as a prototype', () => {
    const fields = JSON.parse('{"__proto__":{"level":"DEBUG"},"level":"x","profile":"p"}') as LogFields;
    const line = lineOf(fields, 0);
    expect(line).toBe(reference(fields, 'WARN', 'm', 0));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed['level']).toBe('WARN');
    expect(Object.keys(parsed)).toEqual(['__proto__', 'level', 'profile', 'message', 'service', 'timestamp']);
  });

  it('stamps each line with its own millisecond when the clock moves back and forth', () => {
    const times = [1000, 1000, 2001, 1000, 4e12];
    let i = 0;
    const lines: string[] = [];
    const logger = createJsonLogger({ write: (l) => lines.push(l), clock: () => times[i++]! });
    for (let n = 0; n < times.length; n++) logger.info('m');
    expect(lines.map((l) => (JSON.parse(l) as { timestamp: string }).timestamp)).toEqual(
      times.map((t) => new Date(t).toISOString()),
    );
  });

  it('writes a line without fields', () => {
    expect(lineOf(undefined, 5)).toBe(reference(undefined, 'WARN', 'm', 5));
  });
});
