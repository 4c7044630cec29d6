import {
  BrokerError,
  ConsentRequired,
  DpopNonceRequired,
  UpstreamError,
  UpstreamRejected,
} from '../errors.ts';
import type { ConsentErrorMatcher, Profile } from '../config/types.ts';
import type { Clock } from '../types.ts';
import { sendTokenRequest, tokenRequestParameters } from './request.ts';
import { processTokenResponse, type TokenResponse } from './response.ts';
import { grantedBeyond } from './scope.ts';
import { isSkewRejection, SKEW_THRESHOLD_MS, SkewMemory } from './skew.ts';
import {
  ATTEMPT_TIMEOUT_MS,
  DEADLINE_MS,
  MAX_ATTEMPTS,
  MAX_CALLER_RETRY_AFTER,
  MAX_RETRY_DELAY_MS,
  backoffMs,
  isRetryableStatus,
  retryAfterMs,
  sleep as realSleep,
} from './retry.ts';

export { SKEW_THRESHOLD_MS };

/** RFC 9449 §8.1 `nonce = 1*NQCHAR`, bounded: a nonce is passed on to the caller as a header. */
const DPOP_NONCE = /^[\x21\x23-\x5b\x5d-\x7e]{1,1024}$/;

/** Timing and retry settings; every field has a documented default. */
export interface ExchangeSettings {
  /** Per attempt, default {@link ATTEMPT_TIMEOUT_MS}. */
  readonly attemptTimeoutMs?: number;
  /** All attempts together, default {@link DEADLINE_MS}. */
  readonly deadlineMs?: number;
  /** Default {@link MAX_ATTEMPTS}. */
  readonly maxAttempts?: number;
  /** Waits between attempts; injected by tests so they need not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1); default `Math.random`. */
  readonly random?: () => number;
}

/** What {@link exchangeToken} needs. */
export interface ExchangeInput extends ExchangeSettings {
  readonly profile: Pick<
    Profile,
    | 'name'
    | 'provider'
    | 'tokenUri'
    | 'headers'
    | 'grant'
    | 'tokenExchange'
    | 'scopeIn'
    | 'consentErrors'
    | 'authUri'
    | 'redirectUri'
    | 'params'
    | 'responseFields'
    | 'tokenType'
    | 'scopeCheck'
  >;
  readonly subject: string | undefined;
  readonly scopes: readonly string[];
  /** Signs a fresh assertion (new `jti`), with `clockOffset` ms added to our clock. */
  readonly sign: (clockOffset: number) => Promise<string>;
  readonly fetch?: typeof fetch;
  /** Our clock, compared with the provider's `Date` header; default `Date.now`. */
  readonly clock?: Clock;
  /** The broker's consent URL for this profile and subject, put in {@link ConsentRequired}. */
  readonly consentUrl?: () => string | undefined;
  /** Clock offsets per token endpoint host, kept across exchanges; default: none kept. */
  readonly skew?: SkewMemory;
  /**
   * The caller's DPoP proof (RFC 9449 §5), sent unchanged as the `DPoP` header. Its `jti`
   * is single-use, so a request carrying one is sent once: no retries, no skew retry.
   */
  readonly dpop?: string | undefined;
  /**
   * Secret values sent besides the assertion and proof (the resolved secret references of
   * the profile's `params` and `headers`): redacted, like them, from any provider text.
   */
  readonly credentials?: readonly string[];
}

/** A token obtained from the endpoint. */
export interface ExchangeResult {
  readonly token: TokenResponse;
  /** Our clock when the answer arrived, epoch milliseconds. */
  readonly receivedAt: number;
  readonly attempts: number;
  /** The provider's clock offset used for the last assertion (0 unless a skew was measured). */
  readonly clockOffset: number;
  /** Granted scopes the request did not ask for (empty unless the provider widened it). */
  readonly widened: readonly string[];
  /**
   * A `DPoP-Nonce` header of the successful answer to a request with a proof (RFC 9449
   * §8.2: the server may send a new nonce with any answer), for the caller's next proof.
   */
  readonly dpopNonce?: string;
}

/** True when `matchers` say this rejection means "the user has not consented". */
export function isConsentError(err: UpstreamRejected, matchers: readonly ConsentErrorMatcher[]): boolean {
  return matchers.some(
    (m) =>
      m.error === err.error &&
      (m.descriptionIncludes === undefined ||
        (err.errorDescription ?? '').toLowerCase().includes(m.descriptionIncludes.toLowerCase())),
  );
}

class AttemptTimeout extends Error {
  override readonly name = 'AttemptTimeout';
}

type Failure =
  | { kind: 'timeout' }
  | { kind: 'network'; cause: unknown }
  | { kind: 'status'; status: number; retryAfter: number | undefined; tooLate?: boolean };

function consentError(input: ExchangeInput, err: UpstreamRejected): ConsentRequired {
  const { profile } = input;
  const consentUrl = input.consentUrl?.();
  const missing =
    consentUrl === undefined
      ? [
          profile.authUri === undefined && 'authUri',
          profile.redirectUri === undefined && 'redirectUri',
        ].filter((key): key is string => key !== false)
      : [];
  return new ConsentRequired(
    { profile: profile.name, subject: input.subject, consentUrl, missing },
    { cause: err, details: { error: err.error, error_description: err.errorDescription } },
  );
}

function endpointName(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

function finalError(
  failure: Failure,
  attempts: number,
  input: ExchangeInput,
  timeoutMs: number,
): BrokerError {
  const where = endpointName(input.profile.tokenUri.url);
  const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
  switch (failure.kind) {
    case 'timeout':
      return new UpstreamError(
        'ERR_UPSTREAM_TIMEOUT',
        `the token endpoint ${where} did not answer within ${timeoutMs} ms (${tries}); check that it is reachable`,
      );
    case 'network': {
      const cause = failure.cause instanceof Error ? failure.cause.cause : undefined;
      const code = cause instanceof Error && 'code' in cause ? ` (${String(cause.code)})` : '';
      return new UpstreamError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `could not reach the token endpoint ${where}${code} (${tries}); check the URL and the network`,
        { cause: failure.cause },
      );
    }
    case 'status': {
      if (failure.retryAfter === undefined)
        return new UpstreamError(
          'ERR_UPSTREAM_UNAVAILABLE',
          `the token endpoint ${where} answered HTTP ${failure.status} (${tries}); retry later`,
          { details: { status: failure.status } },
        );
      const asked = Math.ceil(failure.retryAfter / 1000);
      const seconds = Math.min(Math.max(1, asked), MAX_CALLER_RETRY_AFTER);
      const why = failure.tooLate ? ', beyond the time left for this request' : '';
      return new UpstreamError(
        'ERR_UPSTREAM_UNAVAILABLE',
        `the token endpoint ${where} answered HTTP ${failure.status} asking to retry after ${asked} s${why} (${tries}); retry after ${seconds} s`,
        { details: { status: failure.status, retry_after: seconds } },
      );
    }
  }
}

/**
 * Obtains a token: signs an assertion, sends it, validates the answer, and retries as
 * RFC 6749 clients should — only network errors, timeouts, 5xx and 429, at most
 * `maxAttempts` times within `deadlineMs`, with exponential backoff and jitter (at most
 * {@link MAX_RETRY_DELAY_MS}), and a fresh assertion (new `jti`) each time. A 4xx other
 * than 429 is never retried. A `Retry-After` (RFC 9110 §10.2.3) is waited in full when it
 * fits before the deadline; when it does not, the exchange fails at once with
 * `details.retry_after` for the caller (at most {@link MAX_CALLER_RETRY_AFTER} s).
 *
 * When the provider rejects the assertion as expired or not yet valid (the generic texts
 * and the preset's, see `skew.ts`) and its `Date` header is more than
 * {@link SKEW_THRESHOLD_MS} from the clock used, one more assertion is signed on the
 * provider's clock, and the offset is remembered in `skew` for later exchanges to the
 * same host.
 *
 * The request carries the profile's `params` (already resolved) and the scope in the
 * order given. The answer is checked by {@link processTokenResponse}; a granted scope wider
 * than asked is refused when the profile says `scopeCheck: strict`, else reported in
 * `widened`.
 *
 * With a DPoP proof (`dpop`), the one request carries it as the `DPoP` header, the answer
 * must say `token_type: DPoP`, and `use_dpop_nonce` with a `DPoP-Nonce` header becomes
 * {@link DpopNonceRequired}.
 *
 * @throws ConsentRequired `ERR_CONSENT_REQUIRED` when the rejection matches `consentErrors`.
 * @throws DpopNonceRequired `ERR_USE_DPOP_NONCE` when the provider wants a DPoP nonce (RFC 9449 §8).
 * @throws UpstreamRejected `ERR_UPSTREAM_REJECTED` for other OAuth errors (RFC 6749 §5.2).
 * @throws UpstreamError `ERR_UPSTREAM_UNAVAILABLE`, `ERR_UPSTREAM_TIMEOUT`, `ERR_UPSTREAM_INVALID_RESPONSE`.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5
 */
export async function exchangeToken(input: ExchangeInput): Promise<ExchangeResult> {
  const clock = input.clock ?? Date.now;
  const wait = input.sleep ?? realSleep;
  const random = input.random ?? Math.random;
  const attemptTimeout = input.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS;
  const maxAttempts = input.dpop === undefined ? Math.max(1, input.maxAttempts ?? MAX_ATTEMPTS) : 1;
  const started = performance.now();
  const deadline = started + (input.deadlineMs ?? DEADLINE_MS);
  const skew = input.skew ?? new SkewMemory(clock);
  const host = new URL(input.profile.tokenUri.url).host;
  let clockOffset = skew.get(host);
  let skewRetried = false;
  let attempts = 0;

  for (;;) {
    attempts += 1;
    const assertion = await input.sign(clockOffset);
    const params = tokenRequestParameters({
      grant: input.profile.grant,
      assertion,
      scopes: input.scopes,
      scopeIn: input.profile.scopeIn,
      extra: input.profile.params,
      tokenExchange: input.profile.tokenExchange,
    });
    const remaining = Math.max(1, deadline - performance.now());
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new AttemptTimeout()),
      Math.min(attemptTimeout, remaining),
    );
    let failure: Failure;
    try {
      const response = await sendTokenRequest(input.profile.tokenUri, params, {
        headers: input.profile.headers,
        fetch: input.fetch,
        signal: controller.signal,
        dpop: input.dpop,
      });
      const receivedAt = clock();
      if (isRetryableStatus(response.status)) {
        await response.body?.cancel().catch(() => undefined);
        failure = {
          kind: 'status',
          status: response.status,
          retryAfter: retryAfterMs(response.headers.get('retry-after'), receivedAt),
        };
      } else {
        try {
          const token = await processTokenResponse(response, {
            known: [
              assertion,
              ...(input.dpop === undefined ? [] : [input.dpop]),
              ...(input.credentials ?? []),
            ],
            tokenType: input.profile.tokenType,
            responseFields: input.profile.responseFields,
            dpop: input.dpop !== undefined,
            ...(input.profile.tokenExchange && {
              tokenExchange: { requestedTokenType: input.profile.tokenExchange.requestedTokenType },
            }),
          });
          const widened = grantedBeyond(input.scopes, token.scope);
          if (widened.length > 0 && input.profile.scopeCheck === 'strict')
            throw new UpstreamError(
              'ERR_UPSTREAM_INVALID_RESPONSE',
              `the token endpoint granted scope "${widened.join(' ')}" beyond the "${input.scopes.join(' ')}" asked for, and profile "${input.profile.name}" has scopeCheck: strict; narrow the client's grants at the provider or set scopeCheck: lenient`,
              { details: { status: response.status } },
            );
          const nonce = input.dpop === undefined ? null : response.headers.get('dpop-nonce');
          return {
            token,
            receivedAt,
            attempts,
            clockOffset,
            widened,
            ...(nonce !== null && DPOP_NONCE.test(nonce) && { dpopNonce: nonce }),
          };
        } catch (err) {
          if (!(err instanceof UpstreamRejected)) throw err;
          const providerDate = Date.parse(response.headers.get('date') ?? '');
          const offset = Number.isNaN(providerDate) ? clockOffset : providerDate - receivedAt;
          const nonce = response.headers.get('dpop-nonce') ?? '';
          if (input.dpop !== undefined && err.error === 'use_dpop_nonce' && DPOP_NONCE.test(nonce))
            throw new DpopNonceRequired(nonce, {
              cause: err,
              details: { error_description: err.errorDescription },
            });
          // A proof is single-use: with one, no second request (the caller signs again).
          if (
            !skewRetried &&
            input.dpop === undefined &&
            isSkewRejection(err, input.profile.provider) &&
            Math.abs(offset - clockOffset) > SKEW_THRESHOLD_MS
          ) {
            skewRetried = true;
            clockOffset = Math.abs(offset) > SKEW_THRESHOLD_MS ? offset : 0;
            skew.set(host, clockOffset);
            attempts -= 1; // a skew retry does not use up a network attempt
            continue;
          }
          if (isConsentError(err, input.profile.consentErrors)) throw consentError(input, err);
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      failure = controller.signal.aborted ? { kind: 'timeout' } : { kind: 'network', cause: err };
    } finally {
      clearTimeout(timer);
    }
    if (attempts >= maxAttempts) throw finalError(failure, attempts, input, attemptTimeout);
    const requested = failure.kind === 'status' ? failure.retryAfter : undefined;
    const delay = requested ?? Math.min(backoffMs(attempts, random), MAX_RETRY_DELAY_MS);
    if (performance.now() + delay >= deadline) {
      if (failure.kind === 'status' && requested !== undefined) failure.tooLate = true;
      throw finalError(failure, attempts, input, attemptTimeout);
    }
    await wait(delay);
  }
}
