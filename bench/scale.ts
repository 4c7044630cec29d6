/**
 * Benchmark rows S1-S3 (issue "Scale"): what the scheduled refresh reads per run, how
 * refresh throughput grows with workers, and single-flight across many processes, all
 * against dynalite and the development authorization server with a fixed latency per
 * token exchange.
 *
 * Run directly: `node --import tsx bench/scale.ts [--quick]`.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { dynamoDbClientConfig } from '../lib/aws/sdk.ts';
import { ALL_KEYS, inShard, type Shard } from '../lib/cache/due.ts';
import { itemKey } from '../lib/cache/dynamodb-item.ts';
import { ensureTable } from '../lib/cache/ensure-table.ts';
import { startAuthorizationServer } from '../lib/dev/authorization-server.ts';
import { startDynalite } from '../test/support/dynalite.ts';
import { startDynaliteProcess } from './dynalite-process.ts';
import type { RefreshWorkerMessage, RefreshWorkerOptions } from './refresh-worker.ts';
import {
  AUDIENCE,
  certificatePem,
  CLIENT_ID,
  countCommands,
  PROFILE,
  scaleBroker,
  scaleConfig,
  seedTokens,
  type CommandCounts,
} from './scale-support.ts';
import { measureCrossInstance } from './shared-cache.ts';

/** The provider's latency per token exchange in S3, milliseconds. */
export const EXCHANGE_LATENCY_MS = 200;

/**
 * The provider's latency per token exchange in S2, milliseconds. One dynalite process
 * serves every worker here (DynamoDB scales with them), so the exchange must outweigh its
 * per-call CPU even on a loaded 2-core machine for the ratio to measure the workers.
 */
export const S2_LATENCY_MS = 1000;

/** Refreshes at once per S2 worker: small, so 8 workers stay far below 2 cores. */
export const S2_CONCURRENCY = 2;

const UNUSED_TOKEN_URL = 'http://127.0.0.1:9/token';

// ---- S1 ------------------------------------------------------------------------------

/** Items one run reads at one table size. */
export interface DueReads {
  readonly items: number;
  readonly due: number;
  /** Items the due Queries read (their ScannedCount). */
  readonly read: number;
  readonly queries: number;
  /** Entries listed (the due ones). */
  readonly listed: number;
  /** Items a Scan of the same table reads, for the same answer. */
  readonly scanned: number;
}

/**
 * Fills one dynalite table with `size` items, `dueFraction` of them due, lists the due
 * ones as a scheduled run does, and scans the table as the previous refresh did.
 */
export async function measureDueReads(size: number, dueFraction = 0.01): Promise<DueReads> {
  const dynamo = await startDynalite();
  const client = dynamo.client({ maxAttempts: 1 });
  try {
    const table = `scale-s1-${size}`;
    await ensureTable(client, table);
    const config = scaleConfig(UNUSED_TOKEN_URL, dynamo.endpoint, table);
    const { broker, store } = scaleBroker(config, client, randomBytes(32).toString('hex'));
    const everyNth = Math.round(1 / dueFraction);
    const subjects = Array.from({ length: size }, (_, i) => ({
      subject: `user${i}@example.com`,
      due: i % everyNth === 0,
    }));
    await seedTokens(broker, store, subjects);
    const due = subjects.filter((s) => s.due).length;
    const counts = countCommands(client);
    const now = Date.now();
    const listed = await store.listDue({ now, usedSince: now - 3_600_000, shard: ALL_KEYS });
    const read = counts['Query']?.items ?? 0;
    const queries = counts['Query']?.requests ?? 0;
    let scanned = 0;
    let startKey: Record<string, never> | undefined;
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: table,
          FilterExpression: 'attribute_exists(#token) AND lastUsedAt >= :since AND expiresAt < :before',
          ExpressionAttributeNames: { '#token': 'token' },
          ExpressionAttributeValues: {
            ':since': { N: String(now - 3_600_000) },
            ':before': { N: String(now + 5 * 60_000) },
          },
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      scanned += page.ScannedCount ?? 0;
      startKey = page.LastEvaluatedKey as typeof startKey;
    } while (startKey);
    return { items: size, due, read, queries, listed: listed.length, scanned };
  } finally {
    client.destroy();
    await dynamo.close();
  }
}

// ---- S2 ------------------------------------------------------------------------------

/** One S2 measurement: `workers` processes refreshing their shards at once. */
export interface Throughput {
  readonly workers: number;
  readonly refreshed: number;
  readonly ms: number;
  readonly perMinute: number;
  readonly commands: CommandCounts;
}

/** Subjects whose keys fall `perShard` in each shard of `shards`, shards interleaved. */
function balancedSubjects(
  shards: number,
  perShard: number,
  describe: (subject: string) => string,
  prefix: string,
): string[] {
  const filled = Array.from({ length: shards }, () => 0);
  const chosen: string[] = [];
  for (let i = 0; chosen.length < shards * perShard; i++) {
    const subject = `${prefix}${i}@example.com`;
    const index = Array.from({ length: shards }, (_, s) => s).find((s) =>
      inShard(itemKey(describe(subject)), { index: s, count: shards }),
    )!;
    if (filled[index]! >= perShard) continue;
    filled[index]! += 1;
    chosen.push(subject);
  }
  return chosen;
}

function forkWorker(options: RefreshWorkerOptions) {
  const child = fork(join(import.meta.dirname, 'refresh-worker.ts'), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = (): Promise<RefreshWorkerMessage> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('refresh worker did not answer within 120 s')),
        120_000,
      );
      const onExit = (code: number | null) => reject(new Error(`refresh worker exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (message: RefreshWorkerMessage) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message);
      });
    });
  return { child, next };
}

/**
 * Tokens refreshed per minute by `workers` processes, each refreshing its shard (of
 * `workers`) with {@link S2_CONCURRENCY} at once; each shard holds `perShard` due tokens,
 * so the work per worker is the same and the exchange latency dominates.
 */
export async function measureRefreshThroughput(workers: number, perShard: number): Promise<Throughput> {
  const dynamo = await startDynaliteProcess();
  const auth = await startAuthorizationServer({
    clients: [{ clientId: CLIENT_ID, certificatePem: await certificatePem() }],
    audience: [AUDIENCE],
    latencyMs: S2_LATENCY_MS,
  });
  const client = new DynamoDBClient(dynamoDbClientConfig({ endpoint: dynamo.endpoint, timeoutMs: 10_000 }));
  const sealKeyHex = randomBytes(32).toString('hex');
  const table = `scale-s2-${workers}`;
  const children: ReturnType<typeof forkWorker>[] = [];
  try {
    await ensureTable(client, table);
    const config = scaleConfig(auth.tokenUrl, dynamo.endpoint, table);
    const { broker, store } = scaleBroker(config, client, sealKeyHex);
    const describe = (subject: string) =>
      broker.describe({ profile: PROFILE, subject, scope: undefined }).key;
    // Twice as many subjects: a warm-up run (modules loaded, key opened) and the measured one.
    const warmUp = balancedSubjects(workers, Math.max(2, S2_CONCURRENCY), describe, 'warm');
    const subjects = balancedSubjects(workers, perShard, describe, 'user');
    for (let index = 0; index < workers; index++) {
      const shard: Shard = { index, count: workers };
      children.push(
        forkWorker({
          tokenUrl: auth.tokenUrl,
          dynamoEndpoint: dynamo.endpoint,
          table,
          sealKeyHex,
          shard,
          concurrency: S2_CONCURRENCY,
        }),
      );
    }
    const ready = await Promise.all(children.map((c) => c.next()));
    const notReady = ready.find((m) => m.type !== 'ready');
    if (notReady) throw new Error(`refresh worker failed to start: ${JSON.stringify(notReady)}`);
    const runAll = async (): Promise<RefreshWorkerMessage[]> => {
      const answers = children.map((c) => c.next());
      for (const c of children) c.child.send({ type: 'run' });
      return Promise.all(answers);
    };
    await seedTokens(
      broker,
      store,
      warmUp.map((subject) => ({ subject, due: true })),
    );
    await runAll();
    await seedTokens(
      broker,
      store,
      subjects.map((subject) => ({ subject, due: true })),
    );
    auth.resetRequests();
    const started = performance.now();
    const results = await runAll();
    const ms = performance.now() - started;
    const commands: CommandCounts = {};
    let refreshed = 0;
    for (const result of results) {
      if (result.type !== 'ran') throw new Error(`refresh worker failed: ${JSON.stringify(result)}`);
      const failures = Object.entries(result.summary.failed);
      if (failures.length > 0) throw new Error(`refresh failures: ${JSON.stringify(result.summary.failed)}`);
      refreshed += result.summary.refreshed;
      for (const [name, { requests, items }] of Object.entries(result.commands)) {
        const entry = (commands[name] ??= { requests: 0, items: 0 });
        entry.requests += requests;
        entry.items += items;
      }
    }
    if (refreshed !== subjects.length || auth.requestCount() !== subjects.length) {
      throw new Error(
        `refreshed ${refreshed} of ${subjects.length}, ${auth.requestCount()} upstream requests`,
      );
    }
    return { workers, refreshed, ms, perMinute: (refreshed / ms) * 60_000, commands };
  } finally {
    for (const c of children) if (c.child.connected) c.child.disconnect();
    client.destroy();
    await auth.close();
    await dynamo.close();
  }
}

// ---- S3 ------------------------------------------------------------------------------

/** Upstream requests for `processes` x `callers` on one key, the provider answering after the fixed latency. */
export function measureHotKey(processes: number, callers: number): Promise<number> {
  return measureCrossInstance(processes, callers, EXCHANGE_LATENCY_MS);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  if (!process.argv.includes('--no-s1')) {
    for (const size of quick ? [1000, 5000] : [10_000, 100_000]) {
      const started = Date.now();
      console.log('S1', await measureDueReads(size), `${Date.now() - started} ms`);
    }
  }
  for (const workers of [1, 4, 8]) console.log('S2', await measureRefreshThroughput(workers, quick ? 4 : 8));
  if (!process.argv.includes('--no-s3'))
    console.log('S3', await measureHotKey(quick ? 4 : 16, quick ? 20 : 50));
}
