/**
 * Worker thread of the key-derivation pool: computes the derivations the main thread
 * posts, so a costly keystore never stalls the process's event loop. Run from source
 * through tsx; packaged, bundled on its own into `functions/kdf-worker.mjs`
 * (serverless/esbuild-plugins.cjs), so it imports nothing but derivation.ts and Node built-ins.
 */
import { parentPort } from 'node:worker_threads';
import { type Derivation, computeDerivation } from './derivation.ts';

/** A task from the pool. */
export interface KdfTask {
  readonly id: number;
  readonly derivation: Derivation;
}

/** The answer to a task. */
export type KdfAnswer =
  { readonly id: number; readonly result: Uint8Array } | { readonly id: number; readonly error: string };

parentPort?.on('message', (task: KdfTask) => {
  let answer: KdfAnswer;
  try {
    answer = { id: task.id, result: computeDerivation(task.derivation) };
  } catch (error) {
    answer = { id: task.id, error: error instanceof Error ? error.message : String(error) };
  }
  parentPort?.postMessage(answer);
});
