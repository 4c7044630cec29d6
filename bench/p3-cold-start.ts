/**
 * Row P3: cold start of the token function as Lambda loads it. `functions/token.ts` is
 * bundled with esbuild's JS API the way serverless.yml packages it (platform node, ESM,
 * every dependency bundled, the AWS SDK included; minified here), and so is a baseline
 * that imports only `@aws-sdk/client-secrets-manager`. Each bundle is run as
 * `node bundle.mjs` in a fresh process, interleaved with an empty bundle whose median
 * wall time (node's own start) is subtracted. The metafile says what each dependency adds.
 *
 *   node --import tsx bench/p3-cold-start.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { summarize, type Summary } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * esbuild target. Lambda runs node22 (serverless.yml); the bundles must also run on the
 * node of this machine, which may be 20, and the two targets emit the same syntax here.
 */
export const P3_TARGET = `node${process.versions.node.split('.')[0]}`;

/** Bytes a package (or a folder of our own code) contributes to a bundle. */
export interface InputShare {
  readonly name: string;
  readonly bytes: number;
}

/** What {@link measureColdStart} returns; times in milliseconds. */
export interface ColdStartResult {
  /** `node token.mjs` wall time minus the empty bundle's median. */
  readonly token: Summary;
  /** `node baseline.mjs` wall time minus the empty bundle's median. */
  readonly baseline: Summary;
  /** `node empty.mjs` wall time: node's own start. */
  readonly empty: Summary;
  readonly tokenBytes: number;
  readonly baselineBytes: number;
  /** The token bundle's entry chunk when built with code splitting (dynamic imports become chunks). */
  readonly splitEntryBytes: number;
  /** Cold import of that split build's entry, node start subtracted (as deployed: serverless.yml splits). */
  readonly split: Summary;
  /** Bytes a cold start reads in the split build: the entry and every chunk it imports statically. */
  readonly splitColdBytes: number;
  /** Bytes of every chunk of the split build (what the artifact holds). */
  readonly splitTotalBytes: number;
  /** The token bundle's inputs by package, largest first. */
  readonly inputs: readonly InputShare[];
}

const SHARED: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: P3_TARGET,
  minify: true,
  metafile: true,
  logLevel: 'error',
  // Bundled ESM still meets CommonJS dependencies that call require() (as serverless.yml).
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
};

/** Groups a metafile output's inputs by npm package, or by folder for our own code. */
function inputsByPackage(metafile: Metafile, output: string): InputShare[] {
  const shares = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(metafile.outputs[output]!.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
    const name =
      pkg ??
      path
        .split('/')
        .slice(0, path.startsWith('lib/') ? 2 : 1)
        .join('/');
    shares.set(name, (shares.get(name) ?? 0) + bytesInOutput);
  }
  return [...shares]
    .map(([name, bytes]) => ({ name, bytes }))
    .filter((share) => share.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
}

async function bundle(
  options: BuildOptions,
  outfile: string,
): Promise<{ bytes: number; metafile: Metafile }> {
  const result = await build({ ...SHARED, ...options, outfile, absWorkingDir: ROOT });
  const output = Object.keys(result.metafile!.outputs).find((o) => o.endsWith('.mjs'))!;
  return { bytes: result.metafile!.outputs[output]!.bytes, metafile: result.metafile! };
}

function wallTime(file: string, node = process.execPath): number {
  const start = performance.now();
  const run = spawnSync(node, [file], {
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = performance.now() - start;
  if (run.status !== 0)
    throw new Error(`P3: node ${file} failed: ${run.stderr.toString('utf8').trim().split('\n')[0]}`);
  return ms;
}

/**
 * Builds the bundles and times `runs` fresh processes of each, interleaved.
 * @throws Error when a build fails or a bundle does not run
 */
export async function measureColdStart(runs = 25, warmup = 2): Promise<ColdStartResult> {
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-p3-'));
  try {
    const tokenFile = join(dir, 'token.mjs');
    const baselineFile = join(dir, 'baseline.mjs');
    const emptyFile = join(dir, 'empty.mjs');
    const token = await bundle({ entryPoints: ['functions/token.ts'] }, tokenFile);
    const baseline = await bundle(
      {
        stdin: {
          contents: "export { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\n",
          resolveDir: ROOT,
          loader: 'js',
        },
      },
      baselineFile,
    );
    await writeFile(emptyFile, '');
    const split = await build({
      ...SHARED,
      entryPoints: ['functions/token.ts'],
      outdir: join(dir, 'split'),
      outExtension: { '.js': '.mjs' },
      splitting: true,
      absWorkingDir: ROOT,
    });
    const entry = Object.entries(split.metafile!.outputs).find(
      ([, o]) => o.entryPoint === 'functions/token.ts',
    )!;
    const splitFile = join(ROOT, entry[0]);
    const outputs = split.metafile!.outputs;
    const cold = new Set<string>();
    const visit = (output: string): void => {
      if (cold.has(output)) return;
      cold.add(output);
      for (const imported of outputs[output]?.imports ?? [])
        if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
    };
    visit(entry[0]);
    const chunkBytes = (names: Iterable<string>): number =>
      [...names].filter((o) => o.endsWith('.mjs')).reduce((sum, o) => sum + outputs[o]!.bytes, 0);

    for (let i = 0; i < warmup; i++)
      for (const f of [emptyFile, baselineFile, tokenFile, splitFile]) wallTime(f);
    const e: number[] = [];
    const b: number[] = [];
    const t: number[] = [];
    const sp: number[] = [];
    for (let i = 0; i < runs; i++) {
      e.push(wallTime(emptyFile));
      b.push(wallTime(baselineFile));
      t.push(wallTime(tokenFile));
      sp.push(wallTime(splitFile));
    }
    const start = summarize(e).median;
    return {
      token: summarize(t.map((ms) => ms - start)),
      baseline: summarize(b.map((ms) => ms - start)),
      empty: summarize(e),
      tokenBytes: token.bytes,
      baselineBytes: baseline.bytes,
      splitEntryBytes: entry[1].bytes,
      split: summarize(sp.map((ms) => ms - start)),
      splitColdBytes: chunkBytes(cold),
      splitTotalBytes: chunkBytes(Object.keys(outputs)),
      inputs: inputsByPackage(
        token.metafile,
        Object.keys(token.metafile.outputs).find((o) => o.endsWith('.mjs'))!,
      ),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cold import of a packaged build on a given node; milliseconds, node start subtracted. */
export interface PackagedColdStart {
  /** The function's entry (`functions/token.mjs`) with the chunks it imports. */
  readonly entry: Summary;
  /** The SDK-only bundle built with the same options. */
  readonly baseline: Summary;
  /** An empty file: that node's own start. */
  readonly empty: Summary;
}

/**
 * Times fresh processes of `node` importing the packaged entry, the baseline and an empty
 * file, interleaved; each minus the empty file's median.
 * @throws Error when a file does not run on that node
 */
export async function measurePackagedColdStart(
  node: string,
  files: { readonly entry: string; readonly baseline: string },
  runs = 25,
  warmup = 2,
): Promise<PackagedColdStart> {
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-p3-empty-'));
  try {
    const emptyFile = join(dir, 'empty.mjs');
    await writeFile(emptyFile, '');
    const order = [emptyFile, files.baseline, files.entry];
    for (let i = 0; i < warmup; i++) for (const f of order) wallTime(f, node);
    const samples: number[][] = order.map(() => []);
    for (let i = 0; i < runs; i++) for (const [k, f] of order.entries()) samples[k]!.push(wallTime(f, node));
    const start = summarize(samples[0]!).median;
    return {
      empty: summarize(samples[0]!),
      baseline: summarize(samples[1]!.map((ms) => ms - start)),
      entry: summarize(samples[2]!.map((ms) => ms - start)),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await measureColdStart(Number(process.argv[2] ?? 25));
  const ms = (s: Summary): string => `${s.min.toFixed(1)} / ${s.median.toFixed(1)} / ${s.p99.toFixed(1)} ms`;
  console.log(
    `P3 cold import (${P3_TARGET}, minified), node start subtracted, min/median/p99 of ${r.token.runs}:`,
  );
  console.log(`  functions/token bundle  ${ms(r.token)}  ${r.tokenBytes} bytes`);
  console.log(`  SDK-only baseline       ${ms(r.baseline)}  ${r.baselineBytes} bytes`);
  console.log(`  empty (node start)      ${ms(r.empty)}`);
  console.log(
    `  ratio ${(r.token.median / r.baseline.median).toFixed(2)}x; entry chunk with splitting ${r.splitEntryBytes} bytes`,
  );
  for (const share of r.inputs.slice(0, 15))
    console.log(`  ${String(share.bytes).padStart(8)}  ${share.name}`);
}
