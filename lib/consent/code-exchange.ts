import type { Profile } from '../config/types.ts';
import { UpstreamError } from '../errors.ts';
import { processTokenResponse } from '../exchange/response.ts';

/** How long the consent code exchange may take before it is abandoned. */
export const CODE_EXCHANGE_TIMEOUT_MS = 10_000;

/** What {@link exchangeConsentCode} needs. */
export interface CodeExchangeInput {
  readonly profile: Pick<Profile, 'tokenUri' | 'clientId' | 'redirectUri'>;
  readonly code: string;
  /** The client secret (resolved). Never logged, never put in an error. */
  readonly clientSecret: string;
  /** The PKCE code verifier, when the authorization request carried a challenge. */
  readonly codeVerifier?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly timeoutMs?: number;
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded. */
function basicCredentials(clientId: string, secret: string): string {
  const encode = (value: string): string => encodeURIComponent(value).replace(/%20/g, '+');
  return Buffer.from(`${encode(clientId)}:${encode(secret)}`, 'utf8').toString('base64');
}

/**
 * Exchanges a consent authorization code at the profile's token endpoint
 * (`authorization_code` grant, `client_secret_basic`, the PKCE verifier), only to confirm
 * that the provider recorded the consent. The token it answers is validated and dropped:
 * the caller learns nothing of it.
 *
 * @throws UpstreamRejected `ERR_UPSTREAM_REJECTED` with the provider's error (e.g. `invalid_grant`).
 * @throws UpstreamError `ERR_UPSTREAM_UNAVAILABLE`, `ERR_UPSTREAM_TIMEOUT`, `ERR_UPSTREAM_INVALID_RESPONSE`.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.5
 */
export async function exchangeConsentCode(input: CodeExchangeInput): Promise<void> {
  const { profile } = input;
  if (profile.redirectUri === undefined)
    throw new TypeError('exchangeConsentCode: profile has no redirectUri');
  const form = new URLSearchParams({
    grant_type: 'authorization_code',
    code: input.code,
    redirect_uri: profile.redirectUri,
  });
  if (input.codeVerifier !== undefined) form.set('code_verifier', input.codeVerifier);
  const doFetch = input.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(profile.tokenUri.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
        authorization: `Basic ${basicCredentials(profile.clientId, input.clientSecret)}`,
      },
      body: form.toString(),
      redirect: 'manual',
      signal: AbortSignal.timeout(input.timeoutMs ?? CODE_EXCHANGE_TIMEOUT_MS),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new UpstreamError(
      timedOut ? 'ERR_UPSTREAM_TIMEOUT' : 'ERR_UPSTREAM_UNAVAILABLE',
      timedOut
        ? 'the token endpoint did not answer the consent code exchange in time; start the consent again'
        : "the token endpoint could not be reached for the consent code exchange; check the profile's tokenUri",
      { cause: err },
    );
  }
  // Validated like any token answer, then dropped: the consent is what mattered. The code
  // and the client secret are redacted from any provider text repeated in an error.
  await processTokenResponse(response, { tokenType: 'any', known: [input.code, input.clientSecret] });
}
