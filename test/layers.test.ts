/**
 * The layer order of lib/, as STYLE.md states it: every import points down. A module is a
 * folder of lib/ (or one of the few files named on their own); a module may import itself
 * and modules of a lower layer, never one of its own layer or above. Type-only and dynamic
 * imports count like the others.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const LIB = 'lib';

/** Bottom first. A file named on its own (`config/types.ts`) is a module apart from its folder. */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'types.ts', 'text.ts'],
  ['keystore', 'aws', 'dpop', 'observability', 'client'],
  // The profile's shape: every layer reads it, the signer included.
  ['config/types.ts', 'secrets'],
  ['signer'],
  ['config'],
  ['exchange', 'assertion', 'auth'],
  ['cache', 'http'],
  // The events a profile emits: the broker, the flows and the entry points send them.
  ['events'],
  ['broker'],
  ['consent', 'refresh', 'health'],
  ['deploy', 'dev'],
  ['server', 'runtime.ts'],
  ['cli'],
];

const FILE_MODULES = LAYERS.flat().filter((name) => name.endsWith('.ts'));

/** The module a lib-relative path belongs to. */
function moduleOf(path: string): string {
  if (FILE_MODULES.includes(path)) return path;
  const slash = path.indexOf('/');
  return slash === -1 ? path : path.slice(0, slash);
}

function layerOf(module: string): number {
  return LAYERS.findIndex((layer) => layer.includes(module));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of a file, as lib-relative paths; `values`: only those that load code. */
function importsOf(file: string, { values = false } = {}): string[] {
  const text = readFileSync(file, 'utf8');
  const statements = [...text.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'/gm)];
  const specs = [
    ...statements.filter((m) => !(values && m[1])).map((m) => m[2]!),
    ...[...text.matchAll(/\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)].map((m) => m[1]!),
  ];
  return specs.map((spec) =>
    posix.normalize(
      relative(LIB, join(dirname(file), spec))
        .split('\\')
        .join('/'),
    ),
  );
}

/** The imports of `file` (lib-relative) into `targets` that point up or sideways, as `file -> target`. */
function upwardImports(file: string, targets: readonly string[]): string[] {
  const from = moduleOf(file);
  return targets
    .filter((target) => !target.startsWith('..'))
    .filter((target) => {
      const to = moduleOf(target);
      return to !== from && layerOf(to) >= layerOf(from);
    })
    .map((target) => `${file} -> ${target}`);
}

const files = sourceFiles(LIB).map((file) => relative(LIB, file).split('\\').join('/'));

describe('lib layering', () => {
  it('places every module of lib/ in a layer', () => {
    const unplaced = [...new Set(files.map(moduleOf))].filter((module) => layerOf(module) === -1);
    expect(unplaced).toEqual([]);
  });

  it('imports only downward: a module uses itself and lower layers, never its own layer or above', () => {
    const upward = files.flatMap((file) => upwardImports(file, importsOf(join(LIB, file))));
    expect(upward).toEqual([]);
  });

  it('has no cycle of imports that load code, within a module either', () => {
    const graph = new Map(files.map((file) => [file, importsOf(join(LIB, file), { values: true })]));
    const done = new Set<string>();
    const cycles: string[] = [];
    const visit = (file: string, path: readonly string[]): void => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      if (done.has(file)) return;
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      done.add(file);
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('keeps cache/types.ts below cache/due.ts, type imports included', () => {
    expect(importsOf(join(LIB, 'cache/types.ts')).filter((target) => target.startsWith('cache/'))).toEqual(
      [],
    );
  });

  it('sees the imports it checks, static, type-only and dynamic', () => {
    expect(importsOf(join(LIB, 'cache/due.ts'))).toContain('cache/types.ts');
    expect(importsOf(join(LIB, 'cache/due.ts'), { values: true })).not.toContain('cache/types.ts');
    expect(importsOf(join(LIB, 'signer/key-material.ts'))).toContain('secrets/reference.ts');
    expect(importsOf(join(LIB, 'cli/main.ts'))).toContain('cli/serve.ts');
  });

  it('flags an upward or sideways import and lets a downward one pass', () => {
    expect(upwardImports('config/inspect.ts', ['consent/base-url.ts', 'signer/kms.ts'])).toEqual([
      'config/inspect.ts -> consent/base-url.ts',
    ]);
    expect(upwardImports('cache/types.ts', ['cache/due.ts', 'exchange/retry.ts'])).toEqual([]);
    expect(upwardImports('auth/identity.ts', ['http/event.ts'])).toEqual([
      'auth/identity.ts -> http/event.ts',
    ]);
    expect(upwardImports('signer/cache.ts', ['config/types.ts', 'config/index.ts'])).toEqual([
      'signer/cache.ts -> config/index.ts',
    ]);
  });
});
