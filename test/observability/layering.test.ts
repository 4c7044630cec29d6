import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = 'lib/observability';

describe('lib/observability layering', () => {
  it('imports nothing from lib/http or other layers above it', () => {
    const upward = readdirSync(DIR)
      .filter((name) => name.endsWith('.ts'))
      .flatMap((name) =>
        [...readFileSync(join(DIR, name), 'utf8').matchAll(/from '(\.\.\/[^']+)'/g)]
          .map((m) => m[1]!)
          .filter((spec) => spec !== '../types.ts' && spec !== '../errors.ts')
          .map((spec) => `${name} -> ${spec}`),
      );
    expect(upward).toEqual([]);
  });
});
