/**
 * dynalite in its own OS process, so that the table's CPU is not shared with the
 * benchmark's own event loop (row S2). Sends `{endpoint}` over IPC once it listens and
 * exits when the parent disconnects.
 */
import { fork } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** A dynalite process on 127.0.0.1. */
export interface DynaliteProcess {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Starts dynalite in a child process; rejects when it does not listen within 30 s. */
export async function startDynaliteProcess(): Promise<DynaliteProcess> {
  const child = fork(new URL(import.meta.url).pathname, ['--serve'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('dynalite did not start within 30 s')), 30_000);
    child.once('message', (message: { endpoint: string }) => {
      clearTimeout(timer);
      resolve(message.endpoint);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dynalite exited (code ${code})`));
    });
  });
  return {
    endpoint,
    close: async () => {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}

if (process.argv.includes('--serve') && import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const { startDynalite } = await import('../test/support/dynalite.ts');
  const dynamo = await startDynalite();
  process.send!({ endpoint: dynamo.endpoint });
  process.on('disconnect', () => void dynamo.close().then(() => process.exit(0)));
}
