/**
 * The repository's root holds only the project's face (STYLE.md): configuration, the
 * README and the folders. A scratch file committed there is linted and type-checked with
 * the project, and tells a newcomer nothing. Only committed files count: a profiles file
 * a user writes beside serverless.yml (docs/deploy.md) is theirs.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** What the root may hold, and why each is there. */
const ALLOWED = new Set([
  '.ci', // CI entry point
  '.gitignore',
  '.prettierignore',
  '.prettierrc.json',
  'README.md',
  'bench', // npm run bench
  'bin', // the CLI
  'serverless', // what serverless.yml runs at package time: the profile checks, roles, esbuild plugins
  'docs',
  'eslint.config.js',
  'examples', // the demo's configuration and keystore
  'functions', // Lambda entry points
  'lib',
  'openapi.yaml',
  'package-lock.json',
  'package.json',
  'serverless.yml',
  'test',
  'tsconfig.json',
  'vitest.config.ts',
]);

describe('repository root', () => {
  it('holds only the project files it lists', () => {
    const tracked = execFileSync('git', ['ls-files'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)
      .map((path) => path.split('/')[0]!);
    const stray = [...new Set(tracked)].filter((entry) => !ALLOWED.has(entry)).sort();
    expect(stray, 'move it into a folder, or list it here with its reason').toEqual([]);
  });
});
