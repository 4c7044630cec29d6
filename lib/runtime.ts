/**
 * The Lambda runtime: the one module that reads `process.env`. It loads the profiles
 * file packaged with the code, builds the secret resolver (its Secrets Manager client is
 * created on first use) and the broker once per container, so warm invocations reuse
 * them. On Lambda the work starts at module load, during the (CPU-boosted) init phase.
 *
 * Environment: `TOKEN_BROKER_CONFIG` (profiles file, relative to the package root),
 * `AWS_REGION` (set by Lambda), `POWERTOOLS_LOG_LEVEL` / `POWERTOOLS_SERVICE_NAME` (read by
 * Powertools itself), and from the stack `TOKEN_BROKER_CACHE_TABLE` /
 * `TOKEN_BROKER_CACHE_SEAL_KEY` (see {@link withStackCache}), and for the scheduled refresh
 * `TOKEN_BROKER_REFRESH_SHARDS` with `AWS_LAMBDA_FUNCTION_NAME` (see {@link runtimeFanOut}), and
 * for the health function `TOKEN_BROKER_HEALTH_DEEP_CALLERS` (see {@link runtimeHealthDeepCallers}),
 * and for the profiles' events `TOKEN_BROKER_EVENT_BUS` (the bus the template names), else
 * `TOKEN_BROKER_EVENTS_FILE` (JSON lines to a file, `-` for stderr); with neither, none are sent.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { createLambdaClient, createSecretsManagerClient } from './aws/sdk.ts';
import type { TokenBroker } from './broker/index.ts';
import type { SharedTokenStore } from './cache/types.ts';
import type { ConsentFlow } from './consent/flow.ts';
import { setupBroker } from './consent/setup.ts';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config/index.ts';
import type { BrokerConfig } from './config/types.ts';
import type { ProfileEvents } from './events/emitter.ts';
import { setupEvents } from './events/setup.ts';
import { parseDeepCallers } from './health/callers.ts';
import { createPowertoolsLogger, createPowertoolsMetrics } from './observability/powertools.ts';
import { lambdaShardInvoker, parseShardCount, type ShardInvoker } from './refresh/dispatch.ts';
import { createSecretResolver } from './secrets/index.ts';
import type { SecretResolver } from './secrets/types.ts';

/** What a warm container keeps between invocations. */
export interface Runtime {
  readonly config: BrokerConfig;
  readonly broker: TokenBroker;
  /** The shared token cache (DynamoDB), or undefined with `cache.store: memory`. */
  readonly sharedStore: SharedTokenStore | undefined;
  /** The consent routes' flow (state key from `consent.stateKey`, store from `cache.store`). */
  readonly consent: ConsentFlow;
  /** The secret resolver (`GET /health?deep=1` opens key material with it). */
  readonly secrets: SecretResolver;
  /** The profiles' events (lib/events), or undefined when no bus or file is set. */
  readonly events: ProfileEvents | undefined;
}

const env: Readonly<Record<string, string | undefined>> = { ...process.env };

/** The functions' logger (Powertools, structured JSON). */
export const runtimeLogger = createPowertoolsLogger();

/** The functions' metrics (Powertools EMF, namespace TokenBroker). */
export const runtimeMetrics = createPowertoolsMetrics();

/** Built on first use: the SDK client costs ~100 ms to load, and profiles with `file:` keys never need it. */
function secretsManagerClient(): Promise<SecretsManagerClient> {
  return createSecretsManagerClient({ region: env['AWS_REGION'] });
}

/**
 * The cache settings the stack imposes: `TOKEN_BROKER_CACHE_TABLE` (the stack's table)
 * switches `cache.store` to `dynamodb` on that table, whatever the profiles file says;
 * `TOKEN_BROKER_CACHE_SEAL_KEY` is the seal key reference used when the file names none.
 */
export function withStackCache(
  config: BrokerConfig,
  environment: Readonly<Record<string, string | undefined>>,
): BrokerConfig {
  const table = environment['TOKEN_BROKER_CACHE_TABLE'];
  if (table === undefined || table === '') return config;
  const sealKey = config.cache.sealKey ?? environment['TOKEN_BROKER_CACHE_SEAL_KEY'];
  return { ...config, cache: { ...config.cache, store: 'dynamodb', table, sealKey } };
}

/**
 * The package root as this code sees it: the parent of this module's folder (`lib/` when
 * run from source, `functions/` in a bundle, where every chunk sits beside the handlers).
 */
const BUNDLE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The folder a relative `TOKEN_BROKER_CONFIG` is resolved against: the first of
 * `LAMBDA_TASK_ROOT`, the bundle's own root and the working folder that holds the file.
 * Emulators set `LAMBDA_TASK_ROOT` to a folder other than the bundle's; when none holds it,
 * `LAMBDA_TASK_ROOT` (else the working folder) is used, so the error names the path Lambda has.
 */
export function configRoot(
  environment: Readonly<Record<string, string | undefined>>,
  cwd: string,
  bundleRoot = BUNDLE_ROOT,
  exists: (path: string) => boolean = existsSync,
): string {
  const file = environment['TOKEN_BROKER_CONFIG'] || DEFAULT_CONFIG_FILE;
  const task = environment['LAMBDA_TASK_ROOT'] || undefined;
  const fallback = task ?? cwd;
  if (isAbsolute(file)) return fallback;
  return [task, bundleRoot, cwd].find((root) => root !== undefined && exists(join(root, file))) ?? fallback;
}

async function build(): Promise<Runtime> {
  const cwd = configRoot(env, process.cwd());
  const config = withStackCache(await loadConfig({ env, cwd }), env);
  const secrets = createSecretResolver({
    secretsManager: secretsManagerClient,
    env,
    // Relative `file:` references resolve against the profiles file's folder.
    cwd: dirname(config.source),
  });
  const events = setupEvents(
    { bus: env['TOKEN_BROKER_EVENT_BUS'], file: env['TOKEN_BROKER_EVENTS_FILE'], region: env['AWS_REGION'] },
    { config, logger: runtimeLogger, metrics: runtimeMetrics },
  );
  // Start and callback run in different functions, so a per-process state key cannot work here.
  const { broker, sharedStore, consent } = await setupBroker({
    config,
    secrets,
    logger: runtimeLogger,
    metrics: runtimeMetrics,
    ephemeralStateKey: false,
    // Lambda freezes the process once the handler settles: nothing may run after the answer.
    backgroundWork: false,
    events,
  });
  return { config, broker, consent, sharedStore, secrets, events };
}

let lambdaClient: Promise<LambdaClient> | undefined;

/**
 * The scheduled refresh's fan-out: `TOKEN_BROKER_REFRESH_SHARDS` shards (default 1), the
 * workers started by invoking this very function (`AWS_LAMBDA_FUNCTION_NAME`).
 *
 * @throws ConfigError ERR_CONFIG when the shard count is not a whole number from 1 to 64.
 */
export function runtimeFanOut(): { shards: number; invoke: ShardInvoker } {
  const shards = parseShardCount(env['TOKEN_BROKER_REFRESH_SHARDS']);
  const client = (): Promise<LambdaClient> => {
    lambdaClient ??= createLambdaClient({ region: env['AWS_REGION'] }).catch((err: unknown) => {
      lambdaClient = undefined;
      throw err;
    });
    return lambdaClient;
  };
  return { shards, invoke: lambdaShardInvoker(client, env['AWS_LAMBDA_FUNCTION_NAME'] ?? 'refresh') };
}

/**
 * Who may ask for `GET /health?deep=1`: the IAM ARN patterns in
 * `TOKEN_BROKER_HEALTH_DEEP_CALLERS` (serverless param `healthDeepCallers`), comma
 * separated; unset or empty, nobody.
 *
 * @throws ConfigError ERR_CONFIG when an entry is not an IAM ARN pattern.
 */
export function runtimeHealthDeepCallers(): readonly string[] {
  return parseDeepCallers(env['TOKEN_BROKER_HEALTH_DEEP_CALLERS']);
}

let current: Promise<Runtime> | undefined;

/**
 * The container's runtime, built once. A failed build is not kept, so the next
 * invocation tries again (and logs the same clear error).
 * @throws ConfigError ERR_CONFIG_NOT_FOUND, ERR_CONFIG
 */
export function getRuntime(): Promise<Runtime> {
  current ??= build().catch((err: unknown) => {
    current = undefined;
    throw err;
  });
  return current;
}

if (env['AWS_LAMBDA_FUNCTION_NAME'] !== undefined) {
  // Start during init; an error surfaces (and is logged) on the first invocation.
  getRuntime().catch(() => undefined);
}
