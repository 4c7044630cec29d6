/**
 * One broker instance in its own OS process, for the cross-instance tests and the P5
 * benchmark. Run with `node --import tsx` through `child_process.fork`; options come as
 * JSON in argv[2]. The broker has its own in-process cache and shares the DynamoDB table
 * (dynalite) with the other instances.
 *
 * Protocol (IPC): the worker sends `{ type: 'ready' }` once its broker is built; on
 * `{ type: 'issue', count }` it runs `count` concurrent `issue()` calls for one key and
 * answers `{ type: 'issued', ... }`.
 */
import { createHash } from 'node:crypto';
import { parseConfig } from '../../lib/config/index.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { createSharedStore } from '../../lib/cache/shared-store-factory.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import type { IssuedToken, LogFields, Logger } from '../../lib/types.ts';
import { isBrokerError } from '../../lib/errors.ts';

/** What the parent passes in argv[2]. */
export interface WorkerOptions {
  readonly tokenUrl: string;
  /** Literal assertion audience, the same for every instance so they share one cache key. */
  readonly audience: string;
  readonly dynamoEndpoint: string;
  readonly table: string;
  /** Seal key, hex (given to the worker as an `env:` secret). */
  readonly sealKeyHex: string;
  /** Absolute path of the PEM private key. */
  readonly keyPath: string;
  /** Lease duration of the shared store, ms; default the broker's. */
  readonly leaseMs: number | undefined;
}

/** What the worker reports for one batch. */
export interface IssuedReport {
  readonly type: 'issued';
  readonly ok: number;
  readonly cached: number;
  /** Error codes of failed calls (empty when all succeeded). */
  readonly errors: readonly string[];
  /** Fingerprints (first 8 hex of SHA-256) of the distinct tokens handed out. */
  readonly fingerprints: readonly string[];
  /** Warnings the instance logged (messages only). */
  readonly warnings: readonly string[];
  /** Shared-store calls of this batch: leases won and lost, tokens put. */
  readonly shared: { leasesWon: number; leasesLost: number; puts: number };
}

export type WorkerMessage =
  { readonly type: 'ready' } | IssuedReport | { readonly type: 'failed'; message: string };

export const WORKER_PROFILE = 'shared';
export const WORKER_CALLER = 'arn:aws:iam::123456789012:role/cross-instance';

function configYaml(options: WorkerOptions): string {
  return [
    'profiles:',
    `  ${WORKER_PROFILE}:`,
    '    provider: generic',
    '    issuer: cross-instance-client',
    '    subject: alice@example.com',
    `    tokenUri: POST ${options.tokenUrl}`,
    `    audience: ${options.audience}`,
    '    scope: read',
    `    certStore: file:${options.keyPath}`,
    `    callers: ["${WORKER_CALLER}"]`,
    'cache:',
    '  store: dynamodb',
    `  table: ${options.table}`,
    `  endpoint: ${options.dynamoEndpoint}`,
    '  sealKey: env:SEAL_KEY',
    '',
  ].join('\n');
}

function send(message: WorkerMessage): void {
  process.send!(message);
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2]!) as WorkerOptions;
  const warnings: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message: string, _fields?: LogFields) => void warnings.push(message),
    error: (message: string, _fields?: LogFields) => void warnings.push(message),
  };
  const config = parseConfig(configYaml(options), 'instance-worker.yaml');
  const secrets = createSecretResolver({ env: { SEAL_KEY: options.sealKeyHex }, cwd: process.cwd() });
  const store = (await createSharedStore(config.cache, { secrets, logger }))!;
  const shared = { leasesWon: 0, leasesLost: 0, puts: 0 };
  const sharedStore: SharedTokenStore = {
    ...store,
    acquireLease: async (...args) => {
      const won = await store.acquireLease(...args);
      shared[won ? 'leasesWon' : 'leasesLost']++;
      return won;
    },
    put: async (...args) => {
      shared.puts++;
      return store.put(...args);
    },
  };
  const broker = createBroker({
    config,
    secrets,
    sharedStore,
    logger,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  });

  process.on('message', (message: { type: string; count: number }) => {
    if (message.type !== 'issue') return;
    void (async () => {
      const results = await Promise.allSettled(
        Array.from({ length: message.count }, () =>
          broker.issue({ profile: WORKER_PROFILE, caller: { id: WORKER_CALLER, kind: 'iam' } }),
        ),
      );
      const tokens = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])) as IssuedToken[];
      const errors = results.flatMap((r) =>
        r.status === 'rejected' ? [isBrokerError(r.reason) ? r.reason.code : String(r.reason)] : [],
      );
      const fingerprints = new Set(
        tokens.map((t) => createHash('sha256').update(t.access_token).digest('hex').slice(0, 8)),
      );
      send({
        type: 'issued',
        ok: tokens.length,
        cached: tokens.filter((t) => t.cached).length,
        errors,
        fingerprints: [...fingerprints],
        warnings: warnings.splice(0),
        shared: { ...shared },
      });
      Object.assign(shared, { leasesWon: 0, leasesLost: 0, puts: 0 });
    })();
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  send({
    type: 'failed',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  process.exit(1);
});
