/**
 * The one way the broker loads and builds AWS SDK v3 clients.
 *
 * The SDK is imported on first use (a cold start that never needs it never parses it).
 * A bundler may hand a dynamically imported CommonJS package back as a module whose only
 * export is `default` (esbuild's split ESM build does), so {@link namedExports} reads the
 * named exports from whichever shape arrives. Endpoints follow the SDK's own rules:
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KMS`,
 * `AWS_ENDPOINT_URL_LAMBDA` or `AWS_ENDPOINT_URL`
 * (read by the SDK itself) point a client at a local emulator.
 *
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 */
import type * as DynamoDbModule from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import type * as LambdaModule from '@aws-sdk/client-lambda';
import type { LambdaClient, LambdaClientConfig } from '@aws-sdk/client-lambda';
import type * as SecretsManagerModule from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient, SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import type * as KmsModule from '@aws-sdk/client-kms';
import type { KMSClient, KMSClientConfig } from '@aws-sdk/client-kms';

/** The SDK packages the broker loads on demand. */
export type SecretsManagerSdk = typeof SecretsManagerModule;
export type DynamoDbSdk = typeof DynamoDbModule;
export type KmsSdk = typeof KmsModule;
export type LambdaSdk = typeof LambdaModule;

/**
 * The named exports of a dynamically imported module: the module itself when it has
 * `probe`, else its `default` export when that has it (a CommonJS module wrapped by a
 * bundler).
 *
 * @throws TypeError when neither shape has `probe` (a broken build).
 */
export function namedExports<T extends object>(loaded: unknown, probe: keyof T & string, name: string): T {
  const has = (value: unknown): value is T =>
    typeof value === 'object' && value !== null && (value as Record<string, unknown>)[probe] !== undefined;
  if (has(loaded)) return loaded;
  const inner = (loaded as { default?: unknown } | null)?.default;
  if (has(inner)) return inner;
  throw new TypeError(`module ${name} has no export ${probe} (neither named nor on its default export)`);
}

/**
 * Node HTTP handler options that bound each attempt: the connection within `connectMs`, the
 * answer within `requestMs`. Without `throwOnRequestTimeout` the SDK only logs a warning when
 * `requestTimeout` passes and keeps waiting, so a hung endpoint would hold the caller.
 */
export function boundedRequests(
  connectMs: number,
  requestMs: number,
): { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true } {
  return { connectionTimeout: connectMs, requestTimeout: requestMs, throwOnRequestTimeout: true };
}

/** Each Secrets Manager or KMS attempt; their callers make up to 3, all inside the exchange deadline. */
export const AWS_ATTEMPT_TIMEOUT_MS = 5_000;

/** A loader that imports once; a failed import is not kept, so the next call tries again. */
export function loadOnce<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

/** `@aws-sdk/client-secrets-manager`, loaded on first use. */
export const loadSecretsManagerSdk = loadOnce(async () =>
  namedExports<SecretsManagerSdk>(
    await import('@aws-sdk/client-secrets-manager'),
    'SecretsManagerClient',
    '@aws-sdk/client-secrets-manager',
  ),
);

/** `@aws-sdk/client-dynamodb`, loaded on first use. */
export const loadDynamoDbSdk = loadOnce(async () =>
  namedExports<DynamoDbSdk>(
    await import('@aws-sdk/client-dynamodb'),
    'DynamoDBClient',
    '@aws-sdk/client-dynamodb',
  ),
);

/** `@aws-sdk/client-kms`, loaded on first use. */
export const loadKmsSdk = loadOnce(async () =>
  namedExports<KmsSdk>(await import('@aws-sdk/client-kms'), 'KMSClient', '@aws-sdk/client-kms'),
);

/**
 * A KMS client. The signer retries `ERR_KMS_UNAVAILABLE` with its own backoff, so the SDK
 * makes one attempt per call.
 */
export async function createKmsClient(config: KMSClientConfig = {}): Promise<KMSClient> {
  const { KMSClient: Client } = await loadKmsSdk();
  return new Client({
    maxAttempts: 1,
    requestHandler: boundedRequests(AWS_ATTEMPT_TIMEOUT_MS, AWS_ATTEMPT_TIMEOUT_MS),
    ...config,
  });
}

/**
 * A Secrets Manager client. The secret resolver retries with its own backoff, so the SDK
 * makes one attempt per call.
 */
export async function createSecretsManagerClient(
  config: SecretsManagerClientConfig = {},
): Promise<SecretsManagerClient> {
  const { SecretsManagerClient: Client } = await loadSecretsManagerSdk();
  return new Client({
    maxAttempts: 1,
    requestHandler: boundedRequests(AWS_ATTEMPT_TIMEOUT_MS, AWS_ATTEMPT_TIMEOUT_MS),
    ...config,
  });
}

/** Where a DynamoDB client talks to: the ambient region, or a local endpoint (dynalite). */
export interface DynamoDbTarget {
  readonly region?: string | undefined;
  /** A local DynamoDB (`cache.endpoint`); it accepts any signature, so fixed local credentials are used. */
  readonly endpoint?: string | undefined;
  /** Connection and request timeout of each attempt, in milliseconds. */
  readonly timeoutMs: number;
}

/** Region used with a local endpoint when the settings name none (dynalite ignores it). */
const LOCAL_REGION = 'us-east-1';

/** A local DynamoDB accepts any signature, but the SDK will not send unsigned requests. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The client configuration for `target`: two attempts, each bounded by `timeoutMs`. */
export function dynamoDbClientConfig(target: DynamoDbTarget): DynamoDBClientConfig {
  return {
    maxAttempts: 2,
    requestHandler: boundedRequests(target.timeoutMs, target.timeoutMs),
    ...(target.region === undefined ? {} : { region: target.region }),
    ...(target.endpoint === undefined
      ? {}
      : { endpoint: target.endpoint, region: target.region ?? LOCAL_REGION, credentials: LOCAL_CREDENTIALS }),
  };
}

/** Builds a DynamoDB client from its configuration; tests pass their own. */
export type DynamoDbClientFactory = (config: DynamoDBClientConfig) => DynamoDBClient;

/** A DynamoDB client for `target` (through `factory` when given). */
export async function createDynamoDbClient(
  target: DynamoDbTarget,
  factory?: DynamoDbClientFactory,
): Promise<DynamoDBClient> {
  const config = dynamoDbClientConfig(target);
  if (factory !== undefined) return factory(config);
  const { DynamoDBClient: Client } = await loadDynamoDbSdk();
  return new Client(config);
}

/** `@aws-sdk/client-lambda`, loaded on first use (the scheduled refresh's fan-out). */
export const loadLambdaSdk = loadOnce(async () =>
  namedExports<LambdaSdk>(await import('@aws-sdk/client-lambda'), 'LambdaClient', '@aws-sdk/client-lambda'),
);

/**
 * A Lambda client for asynchronous invocations. An `Event` invocation is answered as soon
 * as Lambda has queued it, so two attempts of a few seconds each are plenty.
 */
export async function createLambdaClient(config: LambdaClientConfig = {}): Promise<LambdaClient> {
  const { LambdaClient: Client } = await loadLambdaSdk();
  return new Client({
    maxAttempts: 2,
    requestHandler: boundedRequests(3_000, 5_000),
    ...config,
  });
}
