import { networkCause } from '../aws/network-cause.ts';
import { BrokerError, ConfigError, WebIdentityError } from '../errors.ts';

interface SdkErrorShape {
  readonly name?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
}

/** The STS error names, with or without the SDK's `Exception` suffix. */
const DISABLED = new Set(['OutboundWebIdentityFederationDisabled']);
const DENIED = new Set([
  'AccessDenied',
  'UnrecognizedClient',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'ExpiredToken',
  'CredentialsProviderError',
]);
const REGION = new Set(['RegionDisabled', 'InvalidAction', 'UnknownOperation']);
const THROTTLED = new Set(['Throttling', 'RequestLimitExceeded', 'TooManyRequests']);
const TOO_LARGE = new Set(['JWTPayloadSizeExceeded']);
const DURATION = new Set(['SessionDurationEscalation']);

/** The IAM command that turns the feature on for the account. */
export const ENABLE_COMMAND = 'aws iam enable-outbound-web-identity-federation';

/**
 * Maps a `GetWebIdentityToken` (SDK) failure to a typed error with the fix in one line.
 * Messages name the audience and the STS error name, never a token.
 *
 * - `ERR_WEB_IDENTITY_DISABLED`: outbound identity federation is off in the account.
 * - `ERR_WEB_IDENTITY_DENIED`: the role may not call `sts:GetWebIdentityToken` with these
 *   values (or has no credentials).
 * - `ERR_WEB_IDENTITY_REGION`: the region is disabled, or the endpoint has no such API.
 * - `ERR_WEB_IDENTITY_THROTTLED`: STS throttles (retry later).
 * - `ERR_WEB_IDENTITY_UNAVAILABLE`: an STS fault, the network, or the role session ends
 *   before the asked lifetime.
 * - `ERR_CONFIG`: the JWT would be too large (tags and audiences).
 *
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html#API_GetWebIdentityToken_Errors
 */
export function webIdentityError(
  error: unknown,
  audience: readonly string[],
  region: string | undefined,
): BrokerError {
  if (error instanceof BrokerError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const raw = typeof shape.name === 'string' ? shape.name : 'Error';
  const name = raw.replace(/Exception$/, '');
  const status = shape.$metadata?.httpStatusCode;
  const on = `STS GetWebIdentityToken for audience ${audience.join(', ')}${region ? ` in ${region}` : ''}`;
  if (DISABLED.has(name))
    return new WebIdentityError(
      'ERR_WEB_IDENTITY_DISABLED',
      `${on} failed: outbound identity federation is not enabled in this AWS account (${raw}); enable it once in the IAM account settings (${ENABLE_COMMAND})`,
      { cause: error },
    );
  if (DENIED.has(name))
    return new WebIdentityError(
      'ERR_WEB_IDENTITY_DENIED',
      `${on} was denied (${raw}); allow sts:GetWebIdentityToken to the function's role with sts:IdentityTokenAudience, sts:DurationSeconds and sts:SigningAlgorithm conditions that admit the profile's webIdentity values (and check SCPs)`,
      { cause: error },
    );
  if (REGION.has(name))
    return new WebIdentityError(
      'ERR_WEB_IDENTITY_REGION',
      `${on} failed (${raw}): the region or endpoint does not offer it; use a regional STS endpoint of an enabled region (never the global sts.amazonaws.com)`,
      { cause: error },
    );
  if (TOO_LARGE.has(name))
    return new ConfigError(
      'ERR_CONFIG',
      `${on} failed (${raw}): the JWT would be too large; use fewer or shorter webIdentity.tags and audiences`,
      { cause: error },
    );
  if (THROTTLED.has(name))
    return new WebIdentityError(
      'ERR_WEB_IDENTITY_THROTTLED',
      `${on} was throttled (${raw}); try again later`,
      { cause: error, details: { retry: true } },
    );
  if (DURATION.has(name))
    return new WebIdentityError(
      'ERR_WEB_IDENTITY_UNAVAILABLE',
      `${on} failed (${raw}): the role session ends before webIdentity.lifetime; lower webIdentity.lifetime`,
      { cause: error, details: { retry: false } },
    );
  const network = networkCause(error);
  const retry =
    network !== undefined || (typeof status === 'number' && status >= 500) || name === 'InternalFailure';
  return new WebIdentityError(
    'ERR_WEB_IDENTITY_UNAVAILABLE',
    `${on} failed (${network ?? raw}); STS is unreachable or failing, try again`,
    { cause: error, details: { retry } },
  );
}
