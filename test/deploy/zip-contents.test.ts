/**
 * Each zip holds only its own files: `osls package` twice in a row in this repository (one
 * `.esbuild/`), with two profiles files. Every entry of every function's zip is its bundle
 * (functions/: the entry, the chunks, their source maps) or the profiles file chosen for
 * that packaging (with the files its relative `file:` references name); the other
 * packaging's profiles file is in none of them.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  FUNCTIONS,
  packageFresh,
  ROOT,
  type FunctionName,
  type PackagedService,
} from '../support/osls-package.ts';
import { unzip } from '../support/unzip.ts';

// Deployable profiles files of the repository: the first names key files beside it through
// relative `file:` references, the second names none.
const FIRST = 'test/fixtures/deploy/profiles.yaml';
const SECOND = 'test/fixtures/deploy/kms-profiles.yaml';

/** The profiles file and the files its relative `file:` references name, relative to the repository. */
function profilesFiles(profiles: string): Set<string> {
  const files = new Set([profiles]);
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      const path = /^file:(.+)$/.exec(value)?.[1];
      if (path !== undefined && !posix.isAbsolute(path)) files.add(posix.join(dirname(profiles), path));
    } else if (value !== null && typeof value === 'object') {
      for (const v of Object.values(value)) walk(v);
    }
  };
  walk(parse(readFileSync(join(ROOT, profiles), 'utf8')));
  return files;
}

const scratch = mkdtempSync(join(tmpdir(), 'tb-zip-contents-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The entry names of a function's zip. */
function entries(packaged: PackagedService, name: FunctionName, label: string): string[] {
  return unzip(join(packaged.out, `${name}.zip`), join(scratch, label, name)).sort();
}

describe('each zip holds only its own files (two packagings in a row)', () => {
  const packagings: { profiles: string; other: string; packaged?: PackagedService }[] = [
    { profiles: FIRST, other: SECOND },
    { profiles: SECOND, other: FIRST },
  ];

  beforeAll(async () => {
    // In sequence, each run now (not from the cache), as a user's two `osls package` would.
    for (const packaging of packagings) {
      const packaged = await packageFresh(packaging.profiles);
      packaging.packaged = packaged;
      expect(packaged.code, packaged.output).toBe(0);
    }
  }, 900_000);
  afterAll(() => {
    for (const { packaged } of packagings) packaged?.remove();
  });

  it.each([0, 1])('packaging %i: its functions, its profiles file, nothing else', (index) => {
    const { profiles, other, packaged } = packagings[index]!;
    const own = profilesFiles(profiles);
    const foreign = [...profilesFiles(other)].filter((file) => !own.has(file));
    for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
      const names = entries(packaged!, name, String(index));
      expect(
        names.filter((entry) => !entry.startsWith('functions/') && !own.has(entry)),
        name,
      ).toEqual([]);
      expect(names, name).toContain(profiles);
      for (const file of foreign) expect(names, name).not.toContain(file);
      // Its own handler's bundle, and no other function's entry.
      const handlerFile = (handler: string) => `${handler.slice(0, handler.lastIndexOf('.'))}.mjs`;
      expect(names, name).toContain(handlerFile(FUNCTIONS[name]));
      for (const [otherName, handler] of Object.entries(FUNCTIONS)) {
        if (otherName !== name) expect(names, name).not.toContain(handlerFile(handler));
      }
    }
  });
});
