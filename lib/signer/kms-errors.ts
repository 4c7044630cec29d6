import { networkCause } from '../aws/network-cause.ts';
import { BrokerError, KeystoreError, KmsError } from '../errors.ts';

interface SdkErrorShape {
  readonly name?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

const DENIED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignature',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);
const KEY_STATE = new Set(['DisabledException', 'KMSInvalidStateException', 'NotFoundException']);
const UNSUITABLE = new Set(['InvalidKeyUsageException', 'UnsupportedOperationException']);
const TRANSIENT = new Set([
  'ThrottlingException',
  'LimitExceededException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'ServiceUnavailableException',
  'InternalFailure',
]);

/** True for a KMS failure worth another attempt: throttling, a 5xx, a network failure. */
export function isRetryableKmsError(error: unknown): boolean {
  return error instanceof KmsError && error.code === 'ERR_KMS_UNAVAILABLE' && error.details['retry'] === true;
}

/**
 * Maps a KMS (SDK) failure of `action` on `keyId` to a typed error. Messages name the key
 * and the KMS error name, never a message or signature.
 *
 * - `ERR_KMS_ACCESS_DENIED`: the role may not use the key (or has no credentials).
 * - `ERR_KMS_KEY_STATE`: the key is disabled, pending deletion or not found.
 * - `ERR_KMS_UNAVAILABLE`: throttled, a KMS fault or the network (retryable).
 * - `ERR_UNSUPPORTED_KEY`: the key is not a signing key for this algorithm.
 */
export function kmsError(error: unknown, keyId: string, action: string): BrokerError {
  if (error instanceof BrokerError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = typeof shape.name === 'string' ? shape.name : 'Error';
  const status = shape.$metadata?.httpStatusCode;
  const on = `KMS key ${keyId}`;
  if (DENIED.has(name))
    return new KmsError(
      'ERR_KMS_ACCESS_DENIED',
      `${on}: ${action} was denied (${name}); grant kms:Sign and kms:GetPublicKey on the key to this role and check the key policy`,
      { cause: error },
    );
  if (KEY_STATE.has(name))
    return new KmsError(
      'ERR_KMS_KEY_STATE',
      `${on}: ${action} failed because the key is not usable (${name}); enable the key, cancel its deletion or fix the key id`,
      { cause: error },
    );
  if (UNSUITABLE.has(name))
    return new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `${on}: ${action} is not possible with this key (${name}); use an asymmetric SIGN_VERIFY key (RSA or ECC NIST)`,
      { cause: error },
    );
  const network = networkCause(error);
  const retry = network !== undefined || TRANSIENT.has(name) || (typeof status === 'number' && status >= 500);
  return new KmsError(
    'ERR_KMS_UNAVAILABLE',
    `${on}: ${action} failed (${network ?? name}); KMS is unreachable or throttling, try again`,
    { cause: error, details: { retry } },
  );
}
