import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createSecretsManagerClient } from '../aws/sdk.ts';
import { SecretError } from '../errors.ts';
import type { Clock } from '../types.ts';
import { SharedFetchCache } from './cache.ts';
import { readEnvSecret, textVersion } from './env.ts';
import { readFileSecret } from './file.ts';
import { describeReference, parseReference, type SecretReference } from './reference.ts';
import { fetchFromSecretsManager } from './secrets-manager.ts';
import type { SecretResolver, SecretValue } from './types.ts';
import { pickValue, utf8OrUndefined, type RawSecret } from './value.ts';

export type { SecretResolver, SecretValue } from './types.ts';
export { describeReference, isSecretReference, parseReference } from './reference.ts';
export type { SecretReference } from './reference.ts';

/**
 * How long a fetched secret (Secrets Manager or file) is reused before it is read again:
 * 5 minutes. Rotation is noticed within this time, or at once through `invalidate`.
 */
export const SECRET_CACHE_MAX_AGE_MS = 5 * 60 * 1000;

/** Options of {@link createSecretResolver}. */
export interface SecretResolverOptions {
  /** Returns the Secrets Manager client; called on first use. Default: a client for the ambient region. */
  readonly secretsManager?: () => SecretsManagerClient | Promise<SecretsManagerClient>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory relative `file:` paths are resolved against. */
  readonly cwd: string;
  readonly clock?: Clock;
  /** Default {@link SECRET_CACHE_MAX_AGE_MS}. */
  readonly maxAgeMs?: number;
  readonly readFile?: (path: string) => Promise<Uint8Array>;
  readonly stat?: (path: string) => Promise<{ mtimeMs: number; size: number }>;
  /** Waits between Secrets Manager retries; default a real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The cache key of where a value comes from: the field is picked after the fetch. */
function sourceKey(parsed: SecretReference): string | undefined {
  switch (parsed.scheme) {
    case 'secretsmanager':
      return `sm:${parsed.secretId}?${parsed.stage ?? ''}&${parsed.version ?? ''}`;
    case 'file':
      return `file:${parsed.path}`;
    default:
      return undefined;
  }
}

/**
 * Creates a resolver for `secretsmanager:`, `file:`, `env:` (and inline `plain:`)
 * references. Secrets Manager and file values are cached for `maxAgeMs`; concurrent
 * resolves of one secret share one fetch; failures are not cached. References that differ
 * only in `#field` share one GetSecretValue.
 *
 * @throws SecretError (from the returned methods) `ERR_SECRET_REFERENCE`, `ERR_SECRET_NOT_FOUND`,
 *   `ERR_SECRET_ACCESS_DENIED`, `ERR_SECRET_UNAVAILABLE`, `ERR_SECRET_FIELD`.
 */
export function createSecretResolver(options: SecretResolverOptions): SecretResolver {
  const cache = new SharedFetchCache<RawSecret>(
    options.clock ?? Date.now,
    options.maxAgeMs ?? SECRET_CACHE_MAX_AGE_MS,
  );
  let client: Promise<SecretsManagerClient> | undefined;
  const getClient = (): Promise<SecretsManagerClient> => {
    client ??= Promise.resolve((options.secretsManager ?? (() => createSecretsManagerClient()))());
    return client;
  };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)));

  async function fetchRaw(reference: string, parsed: SecretReference): Promise<RawSecret> {
    switch (parsed.scheme) {
      case 'secretsmanager':
        return fetchFromSecretsManager({ client: getClient, sleep }, reference, parsed);
      case 'file':
        return readFileSecret(options, reference, parsed);
      case 'env':
        return readEnvSecret(options.env, reference, parsed);
      case 'plain':
        return { binary: undefined, text: parsed.value, version: textVersion(parsed.value) };
    }
  }

  async function resolve(reference: string): Promise<SecretValue> {
    const parsed = parseReference(reference);
    const key = sourceKey(parsed);
    const raw =
      key === undefined
        ? await fetchRaw(reference, parsed)
        : await cache.get(key, () => fetchRaw(reference, parsed));
    return pickValue(reference, raw, parsed.scheme === 'secretsmanager' ? parsed.field : undefined);
  }

  /** Concurrent fresh reads of one source share one fetch (a plain resolve started later joins it too). */
  const fresh = new Map<string, Promise<unknown>>();

  async function resolveText(reference: string): Promise<string> {
    const value = await resolve(reference);
    const text = value.text ?? utf8OrUndefined(value.bytes);
    if (text === undefined) {
      throw new SecretError(
        'ERR_SECRET_FIELD',
        `secret reference "${describeReference(reference)}" holds binary data where text (a password or key) is expected`,
      );
    }
    return text;
  }

  return {
    resolveBytes: resolve,
    resolveText,
    async resolveTextFresh(reference) {
      const key = sourceKey(parseReference(reference));
      if (key === undefined) return resolveText(reference);
      let pending = fresh.get(key);
      if (pending === undefined) {
        cache.delete(key);
        pending = resolveText(reference).finally(() => fresh.delete(key));
        fresh.set(key, pending);
      }
      await pending.catch(() => undefined);
      return resolveText(reference);
    },
    invalidate(reference) {
      const key = sourceKey(parseReference(reference));
      if (key !== undefined) cache.delete(key);
    },
  };
}
