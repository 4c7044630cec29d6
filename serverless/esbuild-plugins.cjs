'use strict';
/**
 * esbuild plugins of the packaged functions (serverless.yml `custom.esbuild.plugins`).
 *
 * `kdf-worker`: the key-derivation worker (lib/keystore/kdf-worker.ts) as a file of its own
 * beside the function's bundle, `kdf-worker.mjs`, which lib/keystore/kdf-pool.ts starts
 * with `new Worker(new URL('./kdf-worker.mjs', import.meta.url))` from its chunk.
 * serverless-esbuild builds each function with its handler as the only entry point (and
 * all functions into one output folder, whose every chunk goes into every zip), so the
 * worker is built here, after each function's build, as one self-contained file (no
 * shared chunks: every function's build writes the same bytes), written whole by a rename.
 */
const { mkdirSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const WORKER_SOURCE = path.join(ROOT, 'lib/keystore/kdf-worker.ts');
/** lib/keystore/kdf-pool.ts BUNDLED_WORKER_FILE. */
const WORKER_FILE = 'kdf-worker.mjs';

/** @type {import('esbuild').Plugin} */
const kdfWorker = {
  name: 'kdf-worker',
  setup(build) {
    const options = build.initialOptions;
    build.onEnd(async (result) => {
      if (result.errors.length > 0) return;
      if (!options.outdir) {
        result.errors.push({ text: 'kdf-worker: the functions are built without an outdir' });
        return;
      }
      let worker;
      try {
        worker = await build.esbuild.build({
          entryPoints: [WORKER_SOURCE],
          outfile: path.join(options.outdir, WORKER_FILE),
          bundle: true,
          splitting: false,
          format: 'esm',
          platform: 'node',
          target: options.target,
          minify: options.minify,
          sourcemap: options.sourcemap,
          absWorkingDir: ROOT,
          write: false,
          logLevel: 'silent',
        });
      } catch (error) {
        result.errors.push(...(error.errors ?? [{ text: `kdf-worker: ${error.message}` }]));
        return;
      }
      mkdirSync(options.outdir, { recursive: true });
      for (const file of worker.outputFiles) {
        const temporary = `${file.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
        writeFileSync(temporary, file.contents);
        renameSync(temporary, file.path);
      }
      result.warnings.push(...worker.warnings);
    });
  },
};

module.exports = [kdfWorker];
