import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { networkCause } from '../aws/network-cause.ts';
import { loadSecretsManagerSdk } from '../aws/sdk.ts';
import { SecretError } from '../errors.ts';
import { describeReference, type SecretsManagerReference } from './reference.ts';
import type { RawSecret } from './value.ts';

/** Attempts per GetSecretValue (the first try plus two retries) for throttling, network and 5xx. */
const SECRETS_MANAGER_ATTEMPTS = 3;
/** Base delay of the exponential backoff between attempts (100 ms, 200 ms, with jitter). */
const SECRETS_MANAGER_BACKOFF_MS = 100;

/** How to reach Secrets Manager. */
export interface SecretsManagerSource {
  /** Returns the client; called on first use only, so the SDK loads only when needed. */
  readonly client: () => SecretsManagerClient | Promise<SecretsManagerClient>;
  /** Waits between attempts; injectable for tests. */
  readonly sleep: (ms: number) => Promise<void>;
}

interface AwsErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const NOT_FOUND = new Set(['ResourceNotFoundException']);
const DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'DecryptionFailure',
  'KMSAccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'CredentialsProviderError',
]);
const RETRYABLE = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

function errorName(err: unknown): string {
  const shape = (err ?? {}) as AwsErrorShape;
  return typeof shape.name === 'string' ? shape.name : '';
}

function isRetryable(err: unknown): boolean {
  const shape = (err ?? {}) as AwsErrorShape;
  const name = errorName(err);
  if (RETRYABLE.has(name)) return true;
  if (typeof shape.code === 'string' && NETWORK_CODES.has(shape.code)) return true;
  const status = shape.$metadata?.httpStatusCode;
  if (typeof status === 'number' && status >= 500) return true;
  // No HTTP answer at all: the request never reached the service.
  return shape.$metadata === undefined && !NOT_FOUND.has(name) && !DENIED.has(name);
}

/** True when an AccessDeniedException is about the secret's KMS key, not the secret. */
function kmsDenied(err: unknown): boolean {
  const message = (err as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && /\bKMS\b/.test(message);
}

/** Maps an SDK failure to a typed error naming the reference (never a value). */
function mapError(reference: string, err: unknown): SecretError {
  const where = `secret "${describeReference(reference)}"`;
  const name = errorName(err);
  if (NOT_FOUND.has(name)) {
    return new SecretError(
      'ERR_SECRET_NOT_FOUND',
      `${where} does not exist in Secrets Manager (check the name, region and ?stage=/?version=)`,
      { cause: err },
    );
  }
  // Secrets Manager answers AccessDeniedException "Access to KMS is not allowed" when the role
  // may read the secret but not decrypt it with its customer-managed key.
  if (
    name === 'DecryptionFailure' ||
    name.startsWith('KMS') ||
    (name === 'AccessDeniedException' && kmsDenied(err))
  ) {
    return new SecretError(
      'ERR_SECRET_ACCESS_DENIED',
      `${where}: access denied to its KMS key; grant kms:Decrypt on that key (serverless param secretsKmsKeys)`,
      { cause: err },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new SecretError(
      'ERR_SECRET_ACCESS_DENIED',
      `${where}: no AWS credentials found; configure a role or AWS_PROFILE`,
      { cause: err },
    );
  }
  if (DENIED.has(name)) {
    return new SecretError(
      'ERR_SECRET_ACCESS_DENIED',
      `${where}: access denied; allow secretsmanager:GetSecretValue on it for this role`,
      { cause: err },
    );
  }
  if (name === 'InvalidRequestException') {
    return new SecretError(
      'ERR_SECRET_NOT_FOUND',
      `${where} cannot be read (marked for deletion, or the version has no value)`,
      { cause: err },
    );
  }
  if (name === 'InvalidParameterException') {
    return new SecretError(
      'ERR_SECRET_REFERENCE',
      `${where}: Secrets Manager rejected the name, stage or version`,
      { cause: err },
    );
  }
  const network = networkCause(err);
  const what = network !== undefined ? ` (${network})` : name && name !== 'Error' ? ` (${name})` : '';
  return new SecretError(
    'ERR_SECRET_UNAVAILABLE',
    `${where}: Secrets Manager is unavailable${what}; retry later`,
    { cause: err },
  );
}

/**
 * Reads a secret with GetSecretValue, retrying throttling, network failures and 5xx with
 * exponential backoff ({@link SECRETS_MANAGER_ATTEMPTS} attempts).
 *
 * @throws SecretError `ERR_SECRET_NOT_FOUND`, `ERR_SECRET_ACCESS_DENIED`, `ERR_SECRET_UNAVAILABLE`,
 *   `ERR_SECRET_REFERENCE`.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 */
export async function fetchFromSecretsManager(
  source: SecretsManagerSource,
  reference: string,
  parsed: SecretsManagerReference,
): Promise<RawSecret> {
  const { GetSecretValueCommand } = await loadSecretsManagerSdk();
  const client = await source.client();
  const input = {
    SecretId: parsed.secretId,
    ...(parsed.stage !== undefined ? { VersionStage: parsed.stage } : {}),
    ...(parsed.version !== undefined ? { VersionId: parsed.version } : {}),
  };
  let lastError: unknown;
  for (let attempt = 1; attempt <= SECRETS_MANAGER_ATTEMPTS; attempt++) {
    try {
      const out = await client.send(new GetSecretValueCommand(input));
      const version = out.VersionId ?? 'unversioned';
      if (out.SecretBinary !== undefined) return { binary: out.SecretBinary, text: undefined, version };
      if (out.SecretString !== undefined) return { binary: undefined, text: out.SecretString, version };
      throw new SecretError(
        'ERR_SECRET_NOT_FOUND',
        `secret "${describeReference(reference)}" has no value in this version`,
      );
    } catch (err) {
      if (err instanceof SecretError) throw err;
      lastError = err;
      if (!isRetryable(err) || attempt === SECRETS_MANAGER_ATTEMPTS) break;
      const delay = SECRETS_MANAGER_BACKOFF_MS * 2 ** (attempt - 1);
      await source.sleep(delay + Math.floor(Math.random() * (delay / 2)));
    }
  }
  throw mapError(reference, lastError);
}
