/**
 * A bounded pool of worker threads for the key derivations written in JavaScript (the
 * PKCS#12 KDF, the JCEKS MD5 rounds, PBKDF1), which would otherwise hold the event loop
 * for as long as they run. PBKDF2 needs no worker: Node runs `crypto.pbkdf2` on libuv's
 * thread pool. Workers start on first use, are reused, and never keep the process alive
 * while idle.
 *
 * Workers run this module's TypeScript sibling through tsx (the broker runs from source
 * on the CLI and in tests). Where the worker cannot start, as in a bundled Lambda function
 * (one request at a time per instance, so nothing waits behind the derivation), the
 * derivation runs on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { pbkdf2 } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { type Derivation, computeDerivation } from './derivation.ts';
import type { KdfAnswer, KdfTask } from './kdf-worker.ts';

/** Workers at most: leave a core to the event loop. */
export const KDF_POOL_SIZE = Math.max(1, Math.min(4, availableParallelism() - 1));

interface Pending {
  readonly resolve: (value: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly derivation: Derivation;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly tasks: Map<number, Pending>;
}

const workers: PoolWorker[] = [];
let nextId = 1;
let unavailable = false;

/** The bootstrap that loads the worker module through tsx; `undefined` when not from source. */
function bootstrap(): string | undefined {
  const target = new URL('./kdf-worker.ts', import.meta.url);
  if (target.protocol !== 'file:' || !import.meta.url.endsWith('.ts')) return undefined;
  let api: string;
  try {
    api = import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined;
  }
  return `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(target.href)}); });`;
}

function spawn(): PoolWorker | undefined {
  const source = bootstrap();
  if (source === undefined) return undefined;
  const entry: PoolWorker = { worker: new Worker(source, { eval: true }), tasks: new Map() };
  entry.worker.unref();
  entry.worker.on('message', (answer: KdfAnswer) => {
    const task = entry.tasks.get(answer.id);
    if (!task) return;
    entry.tasks.delete(answer.id);
    if (entry.tasks.size === 0) entry.worker.unref();
    if ('result' in answer) task.resolve(Buffer.from(answer.result));
    else task.reject(new Error(answer.error));
  });
  const fail = (): void => {
    // A worker that cannot start or dies: its tasks run here, and no more workers are tried.
    unavailable = true;
    workers.splice(workers.indexOf(entry), 1);
    for (const task of entry.tasks.values()) {
      try {
        task.resolve(computeDerivation(task.derivation));
      } catch (error) {
        task.reject(error as Error);
      }
    }
    entry.tasks.clear();
  };
  entry.worker.on('error', fail);
  entry.worker.on('exit', () => {
    if (workers.includes(entry)) fail();
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
  if (derivation.kind === 'pbkdf2')
    return new Promise((resolve, reject) =>
      pbkdf2(
        derivation.password,
        derivation.salt,
        derivation.iterations,
        derivation.length,
        derivation.digest,
        (error, key) => (error ? reject(error) : resolve(key)),
      ),
    );
  const entry = pick();
  if (!entry) return Promise.resolve().then(() => computeDerivation(derivation));
  return new Promise((resolve, reject) => {
    const id = nextId++;
    entry.tasks.set(id, { resolve, reject, derivation });
    entry.worker.ref();
    entry.worker.postMessage({ id, derivation } satisfies KdfTask);
  });
}
