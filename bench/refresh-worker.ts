/**
 * One scheduled-refresh worker in its own OS process, for bench row S2: the code a
 * refresh worker runs on Lambda (`runScheduledRefresh` for one shard, its bounded pool
 * and deadline), against the shared dynalite table and the development authorization
 * server. Options come as JSON in argv[2]; it sends `{type: 'ready'}`, and on
 * `{type: 'run'}` refreshes its shard once and answers `{type: 'ran', ...}`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { performance } from 'node:perf_hooks';
import { dynamoDbClientConfig } from '../lib/aws/sdk.ts';
import type { Shard } from '../lib/cache/due.ts';
import { runScheduledRefresh, type RefreshSummary } from '../lib/refresh/refresh.ts';
import { noMetrics, silentLogger } from '../lib/types.ts';
import { countCommands, scaleBroker, scaleConfig, type CommandCounts } from './scale-support.ts';

export interface RefreshWorkerOptions {
  readonly tokenUrl: string;
  readonly dynamoEndpoint: string;
  readonly table: string;
  readonly sealKeyHex: string;
  readonly shard: Shard;
  readonly concurrency: number;
}

export type RefreshWorkerMessage =
  | { readonly type: 'ready' }
  | {
      readonly type: 'ran';
      readonly summary: RefreshSummary;
      readonly ms: number;
      readonly commands: CommandCounts;
    }
  | { readonly type: 'failed'; readonly reason: string };

const options = JSON.parse(process.argv[2]!) as RefreshWorkerOptions;
// The deployed client's configuration (two attempts), with a timeout a loaded machine allows.
const client = new DynamoDBClient(
  dynamoDbClientConfig({ endpoint: options.dynamoEndpoint, timeoutMs: 10_000 }),
);
const commands = countCommands(client);
const config = scaleConfig(options.tokenUrl, options.dynamoEndpoint, options.table);
const { broker, store } = scaleBroker(config, client, options.sealKeyHex);
const send = (message: RefreshWorkerMessage): void => void process.send!(message);

process.on('message', (message: { type: string }) => {
  if (message.type !== 'run') return;
  void (async () => {
    for (const name of Object.keys(commands)) delete commands[name];
    const started = performance.now();
    const summary = await runScheduledRefresh(
      { config, broker, sharedStore: store, clock: Date.now, logger: silentLogger, metrics: noMetrics },
      {
        startBy: Date.now() + 50_000,
        finishBy: Date.now() + 55_000,
        concurrency: options.concurrency,
        shard: options.shard,
      },
    );
    send({ type: 'ran', summary, ms: performance.now() - started, commands: { ...commands } });
  })().catch((error: unknown) => send({ type: 'failed', reason: String(error) }));
});
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
