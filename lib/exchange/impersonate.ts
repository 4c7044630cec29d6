/**
 * google-wif's second step: the federated token from Google's STS traded for a service
 * account's access token at IAM Credentials `generateAccessToken`.
 *
 * @see https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
 * @see https://cloud.google.com/iam/docs/workload-identity-federation-with-other-providers#impersonation
 */
import type { ImpersonateOptions } from '../config/types.ts';
import { isBrokerError, UpstreamError, UpstreamRejected } from '../errors.ts';
import { providerText } from '../text.ts';
import { readCappedBody } from './response.ts';
import { ATTEMPT_TIMEOUT_MS } from './retry.ts';

/** The service account's token. */
export interface ImpersonatedToken {
  /** The access token (a credential: never log it). */
  readonly accessToken: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/** What {@link impersonate} needs. */
export interface ImpersonateInput {
  readonly settings: ImpersonateOptions;
  /** The federated access token Google's STS answered (a credential: never log it). */
  readonly federatedToken: string;
  readonly scopes: readonly string[];
  readonly fetch?: typeof fetch;
  /** Bounds the call; default {@link ATTEMPT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

const where = (settings: ImpersonateOptions) => `generateAccessToken for ${settings.serviceAccount}`;

/** Longest `status` and `message` of Google's error kept, in characters. */
const MAX_ERROR_CHARS = 64;
const MAX_DESCRIPTION = 300;

/**
 * Google's error body, `{error: {code, message, status}}`, as an RFC 6749-shaped refusal.
 * Its text reaches callers and logs: one line, bounded, the federated token (`known`) and
 * anything JWS-shaped redacted, as for a token endpoint's error.
 */
function refusal(
  status: number,
  text: string,
  settings: ImpersonateOptions,
  known: readonly string[],
): UpstreamRejected {
  let error = `http_${status}`;
  let description: string | undefined;
  try {
    const body = JSON.parse(text) as { error?: { status?: unknown; message?: unknown } };
    if (typeof body.error?.status === 'string' && body.error.status !== '')
      error = providerText(body.error.status, MAX_ERROR_CHARS, known);
    if (typeof body.error?.message === 'string' && body.error.message !== '')
      description = providerText(body.error.message, MAX_DESCRIPTION, known);
  } catch {
    // Not JSON: the status alone says enough.
  }
  return new UpstreamRejected(
    { status, error, ...(description !== undefined && { errorDescription: description }) },
    `${where(settings)} refused the federated token (HTTP ${status}): ${error}${description ? ` (${description})` : ''}; grant the pool's principal roles/iam.workloadIdentityUser on the service account`,
  );
}

/**
 * Asks `generateAccessToken` for the service account's token with the federated token as
 * bearer. Redirects are not followed, as at the token endpoint.
 *
 * @throws UpstreamRejected `ERR_UPSTREAM_REJECTED` for a refusal (Google's `status` as `error`).
 * @throws UpstreamError `ERR_UPSTREAM_UNAVAILABLE` (network, timeout, 5xx) or
 *   `ERR_UPSTREAM_INVALID_RESPONSE` (no `accessToken` or `expireTime`).
 */
export async function impersonate(input: ImpersonateInput): Promise<ImpersonatedToken> {
  const { settings } = input;
  let response: Response;
  try {
    response = await (input.fetch ?? fetch)(settings.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        authorization: `Bearer ${input.federatedToken}`,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: JSON.stringify({ scope: input.scopes, lifetime: `${settings.lifetime}s` }),
      signal: AbortSignal.timeout(input.timeoutMs ?? ATTEMPT_TIMEOUT_MS),
    });
  } catch (err) {
    throw new UpstreamError(
      'ERR_UPSTREAM_UNAVAILABLE',
      `${where(settings)} could not be reached; try again`,
      {
        cause: err,
      },
    );
  }
  let text: string;
  try {
    text = await readCappedBody(response);
  } catch (err) {
    // The attempt's timeout also ends a body that stalls after its headers.
    if (isBrokerError(err)) throw err;
    throw new UpstreamError(
      'ERR_UPSTREAM_UNAVAILABLE',
      `${where(settings)} sent an answer that could not be read; try again`,
      { cause: err },
    );
  }
  if (response.status >= 500)
    throw new UpstreamError(
      'ERR_UPSTREAM_UNAVAILABLE',
      `${where(settings)} failed (HTTP ${response.status}); try again`,
    );
  if (response.status !== 200) throw refusal(response.status, text, settings, [input.federatedToken]);
  let body: { accessToken?: unknown; expireTime?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = {};
  }
  const expiresAt = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : Number.NaN;
  if (typeof body.accessToken !== 'string' || body.accessToken === '' || !Number.isFinite(expiresAt))
    throw new UpstreamError(
      'ERR_UPSTREAM_INVALID_RESPONSE',
      `${where(settings)} answered without an accessToken and an RFC 3339 expireTime`,
    );
  return { accessToken: body.accessToken, expiresAt };
}
