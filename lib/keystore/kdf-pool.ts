/**
 * A bounded pool of worker threads for the key derivations written in JavaScript (the
 * PKCS#12 KDF, the JCEKS MD5 rounds, PBKDF1), which would otherwise hold the event loop
 * for as long as they run: up to 6 s within the work budget, while the refresh function
 * runs several refreshes at once and renews shared-cache leases on timers, and `serve`
 * answers other requests. PBKDF2 needs no worker: Node runs `crypto.pbkdf2` on libuv's
 * thread pool. Workers start on first use, are reused, and never keep the process alive
 * while idle.
 *
 * Where the worker comes from:
 * - from source (CLI, local server, tests), this module's sibling `kdf-worker.ts`, loaded
 *   through tsx;
 * - in a packaged function, {@link BUNDLED_WORKER_FILE} beside the chunk that holds this
 *   module: the build bundles `kdf-worker.ts` into that file, self-contained, in the
 *   bundle's output folder (serverless/esbuild-plugins.cjs), so it loads from the unpacked zip
 *   wherever it is.
 *
 * Only when no worker can start (the file is missing, or the worker dies) do derivations
 * run on the calling thread, with a process warning (`TOKEN_BROKER_KDF_INLINE`) saying so.
 * `NODE_DEBUG=token-broker-kdf` logs each derivation's kind, cost, duration and where it ran
 * (`worker`, `inline`, or `libuv` for PBKDF2); never its inputs.
 */
import { availableParallelism } from 'node:os';
import { pbkdf2 } from 'node:crypto';
import { debuglog } from 'node:util';
import { Worker } from 'node:worker_threads';
import { type Derivation, computeDerivation, derivationCost } from './derivation.ts';
import type { KdfAnswer, KdfTask } from './kdf-worker.ts';

/** Workers at most: leave a core to the event loop. */
export const KDF_POOL_SIZE = Math.max(1, Math.min(4, availableParallelism() - 1));

/** The bundled worker's file name, beside the bundle's chunks (written by serverless/esbuild-plugins.cjs). */
export const BUNDLED_WORKER_FILE = 'kdf-worker.mjs';

/** The process warning's code when derivations run on the calling thread. */
export const KDF_INLINE_WARNING = 'TOKEN_BROKER_KDF_INLINE';

const debug = debuglog('token-broker-kdf');

interface Pending {
  readonly resolve: (value: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly derivation: Derivation;
  readonly started: number;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly tasks: Map<number, Pending>;
}

const workers: PoolWorker[] = [];
let nextId = 1;
let unavailable = false;

/** The bootstrap that loads the worker module through tsx; `undefined` when tsx is absent. */
function tsxBootstrap(): string | undefined {
  const target = new URL('./kdf-worker.ts', import.meta.url);
  if (target.protocol !== 'file:') return undefined;
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
  return `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(target.href)}); });`;
}

/** A new worker thread running the derivation loop, or why none can start. */
function startWorker(): Worker | string {
  if (import.meta.url.endsWith('.ts')) {
    const source = tsxBootstrap();
    if (source === undefined) return 'running from source without tsx';
    return new Worker(source, { eval: true });
  }
  return new Worker(new URL(`./${BUNDLED_WORKER_FILE}`, import.meta.url));
}

/** Derivations run on the calling thread from now on; said once, as a process warning. */
function giveUp(reason: string): void {
  if (unavailable) return;
  unavailable = true;
  process.emitWarning(
    `key derivations run on the event loop: no worker thread (${reason}); ` +
      'a costly keystore blocks other work while it opens',
    { code: KDF_INLINE_WARNING },
  );
}

function logDone(derivation: Derivation, where: 'worker' | 'inline' | 'libuv', started: number): void {
  debug(
    '%s derivation, cost %d, %d ms on %s',
    derivation.kind,
    derivationCost(derivation),
    Math.round(performance.now() - started),
    where,
  );
}

function computeInline(derivation: Derivation): Buffer {
  const started = performance.now();
  const result = computeDerivation(derivation);
  logDone(derivation, 'inline', started);
  return result;
}

function spawn(): PoolWorker | undefined {
  let worker: Worker | string;
  try {
    worker = startWorker();
  } catch (error) {
    worker = error instanceof Error ? error.message : String(error);
  }
  if (typeof worker === 'string') {
    giveUp(worker);
    return undefined;
  }
  const entry: PoolWorker = { worker, tasks: new Map() };
  entry.worker.unref();
  entry.worker.on('message', (answer: KdfAnswer) => {
    const task = entry.tasks.get(answer.id);
    if (!task) return;
    entry.tasks.delete(answer.id);
    if (entry.tasks.size === 0) entry.worker.unref();
    if ('result' in answer) {
      logDone(task.derivation, 'worker', task.started);
      task.resolve(Buffer.from(answer.result));
    } else task.reject(new Error(answer.error));
  });
  const fail = (reason: string): void => {
    // A worker that cannot start or dies: its tasks run here, and no more workers are tried.
    giveUp(reason);
    const index = workers.indexOf(entry);
    if (index >= 0) workers.splice(index, 1);
    for (const task of entry.tasks.values()) {
      try {
        task.resolve(computeInline(task.derivation));
      } catch (error) {
        task.reject(error as Error);
      }
    }
    entry.tasks.clear();
  };
  entry.worker.on('error', (error) => fail(error.message));
  entry.worker.on('exit', (code) => {
    if (workers.includes(entry)) fail(`the worker exited with code ${code}`);
  });
  workers.push(entry);
  return entry;
}

/** The least busy worker, starting one while under the pool size. */
function pick(): PoolWorker | undefined {
  if (unavailable) return undefined;
  const idle = workers.find((entry) => entry.tasks.size === 0);
  if (idle) return idle;
  if (workers.length < KDF_POOL_SIZE) return spawn();
  return workers.reduce<PoolWorker | undefined>(
    (best, entry) => (best === undefined || entry.tasks.size < best.tasks.size ? entry : best),
    undefined,
  );
}

/** Runs a derivation off the event loop: PBKDF2 on libuv's pool, the rest on a worker. */
export function deriveOffLoop(derivation: Derivation): Promise<Buffer> {
  if (derivation.kind === 'pbkdf2') {
    const started = performance.now();
    return new Promise((resolve, reject) =>
      pbkdf2(
        derivation.password,
        derivation.salt,
        derivation.iterations,
        derivation.length,
        derivation.digest,
        (error, key) => {
          if (error) return reject(error);
          logDone(derivation, 'libuv', started);
          resolve(key);
        },
      ),
    );
  }
  const entry = pick();
  if (!entry) return Promise.resolve().then(() => computeInline(derivation));
  return new Promise((resolve, reject) => {
    const id = nextId++;
    entry.tasks.set(id, { resolve, reject, derivation, started: performance.now() });
    entry.worker.ref();
    entry.worker.postMessage({ id, derivation } satisfies KdfTask);
  });
}
