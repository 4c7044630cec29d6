/**
 * The caller's half of the broker: a SigV4-signing client for `POST /token` that keeps
 * tokens in memory and shares one request per key among concurrent callers.
 */
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { Sha256 } from '@aws-crypto/sha256-js';
import { cacheKey, normalizeScope, TokenMemo, type HeldToken } from './cache.ts';
import { DpopKey } from './dpop.ts';
import { dpopNonceOf, errorFromResponse, retryAfterSeconds, TokenBrokerError } from './errors.ts';
import { createSigner, regionFromEndpoint, type RequestSigner, type SignedRequest } from './sign.ts';

/** Remaining lifetime, in seconds, a token must have to be handed out; the broker's default too. */
export const DEFAULT_MIN_TTL = 60;
/** How long one request to the broker may take, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Options of {@link TokenBrokerClient}. */
export interface TokenBrokerClientOptions {
  /** Base URL of the broker API, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com`. */
  readonly endpoint: string | URL;
  /** Signing region; default: taken from an `execute-api` endpoint host (required for others). */
  readonly region?: string | undefined;
  /** AWS credentials; default: the Node.js default chain (env, SSO, ini, web identity, ECS/EC2). */
  readonly credentials?: AwsCredentialIdentityProvider | undefined;
  /** The fetch to use; default: the global fetch. */
  readonly fetch?: typeof fetch | undefined;
  /** Epoch milliseconds, for token expiry and the signing date; default `Date.now`. */
  readonly clock?: (() => number) | undefined;
  /** Per-request deadline in milliseconds; default {@link DEFAULT_TIMEOUT_MS}. */
  readonly timeoutMs?: number | undefined;
  /**
   * DPoP (RFC 9449): the client makes a non-extractable ES256 key, signs a proof for the
   * provider's token endpoint with every token request, so tokens are bound to this
   * client's key, and signs proofs for resource requests with {@link TokenBrokerClient.proof}.
   */
  readonly dpop?: boolean | undefined;
}

const FINGERPRINT = /^[0-9a-f]{8}$/;

/** A token request (DESIGN.md `POST /token`). */
export interface GetTokenRequest {
  readonly profile: string;
  /** Subject; default: the profile's subject. */
  readonly subject?: string | undefined;
  /** Space-separated scope; default: the profile's scope. */
  readonly scope?: string | undefined;
  /** Whole seconds of life the token must have left; default {@link DEFAULT_MIN_TTL}. */
  readonly minTtl?: number | undefined;
  /**
   * The access token your API refused (or its fingerprint, 8 hex digits): when it is still
   * the token held, here and in the broker, a new one is fetched. Only its fingerprint is sent.
   */
  readonly rejected?: string | undefined;
}

/** The fingerprint of a token: the first 8 hex digits of its SHA-256 (never the token itself). */
export async function tokenFingerprint(accessToken: string): Promise<string> {
  const hash = new Sha256();
  hash.update(accessToken);
  return Buffer.from(await hash.digest())
    .toString('hex')
    .slice(0, 8);
}

/** A token handed to the caller. */
export interface BrokerToken {
  readonly accessToken: string;
  /** Usually `Bearer`; `DPoP` with the `dpop` option. */
  readonly tokenType: string;
  /** Expiry, epoch milliseconds on the client's clock. */
  readonly expiresAt: number;
  /** Whole seconds left now. */
  readonly expiresIn: number;
  readonly scope?: string;
  /** Provider fields the broker passed on (a profile's `responseFields`, e.g. Salesforce's `instance_url`). */
  readonly fields?: Readonly<Record<string, string | number | boolean>>;
}

/** Fields of the broker's 200 body that are its own; any other scalar is a provider field. */
const OWN_FIELDS: ReadonlySet<string> = new Set([
  'access_token',
  'token_type',
  'expires_in',
  'expires_at',
  'scope',
]);
/** Most keys remembered with a pending `Retry-After` at once. */
const MAX_WAITING_KEYS = 500;

function defaultCredentials(): AwsCredentialIdentityProvider {
  // Loaded on first use: callers passing their own credentials never pay for the chain.
  let provider: Promise<AwsCredentialIdentityProvider> | undefined;
  return async (): Promise<AwsCredentialIdentity> => {
    // A split ESM bundle may hand the CommonJS package back with its exports on `default`.
    provider ??= import('@aws-sdk/credential-provider-node').then((m) =>
      (m.defaultProvider ?? (m as unknown as { default: typeof m }).default.defaultProvider)(),
    );
    return (await provider)();
  };
}

function describeFailure(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const cause = err instanceof Error ? err.cause : undefined;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'failed';
}

/**
 * Client of the broker's `POST /token`.
 *
 * @example
 * const broker = new TokenBrokerClient({ endpoint: 'https://abc123.execute-api.eu-west-1.amazonaws.com' });
 * const { accessToken } = await broker.getToken({ profile: 'docusign' });
 */
export class TokenBrokerClient {
  readonly #url: URL;
  readonly #sign: RequestSigner;
  readonly #fetch: typeof fetch;
  readonly #clock: () => number;
  readonly #timeoutMs: number;
  readonly #memo = new TokenMemo();
  /** Keys the broker asked to leave alone (`Retry-After`), until when (epoch ms). */
  readonly #notBefore = new Map<string, number>();
  readonly #dpop: Promise<DpopKey> | undefined;
  /** Per profile: the `htm` and `htu` its proofs need, and the provider's last nonce. */
  readonly #proofTargets = new Map<string, { htm: string; htu: string; nonce?: string }>();

  /** @throws TypeError when the endpoint is not an http(s) URL or no region can be found. */
  constructor(options: TokenBrokerClientOptions) {
    const endpoint = new URL(options.endpoint);
    if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:')
      throw new TypeError(`endpoint must be an https URL, got ${endpoint.protocol}`);
    const region = options.region ?? regionFromEndpoint(endpoint);
    if (!region)
      throw new TypeError(`pass a region: it cannot be read from the endpoint host ${endpoint.hostname}`);
    const base = endpoint.pathname.endsWith('/') ? endpoint : new URL(`${endpoint.pathname}/`, endpoint);
    this.#url = new URL('token', base);
    this.#sign = createSigner(region, options.credentials ?? defaultCredentials());
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#clock = options.clock ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.dpop === true) {
      this.#dpop = DpopKey.generate(this.#clock);
      // Surfaced by the first call that needs the key, not as an unhandled rejection.
      this.#dpop.catch(() => undefined);
    }
  }

  /**
   * A token for `profile` with at least `minTtl` seconds left: from memory when one is,
   * else from the broker, sharing one request among concurrent calls for the same
   * profile, subject and scope set.
   *
   * @throws TokenBrokerError with code `consent_required` (see `consentUrl`), `forbidden`,
   * `unknown_profile`, `invalid_request`, `use_dpop_nonce`, `upstream_rejected` (see `upstreamError`),
   * `upstream_unavailable`, `secret_unavailable`, `internal`, `network`, `credentials`
   * or `invalid_response`.
   * @throws TypeError when `profile` is empty or `minTtl` is not a non-negative integer.
   */
  async getToken(request: GetTokenRequest): Promise<BrokerToken> {
    if (typeof request.profile !== 'string' || request.profile === '')
      throw new TypeError('getToken: profile must be a non-empty string');
    const minTtl = request.minTtl ?? DEFAULT_MIN_TTL;
    if (!Number.isSafeInteger(minTtl) || minTtl < 0)
      throw new TypeError('getToken: minTtl must be a non-negative integer number of seconds');
    const minTtlMs = minTtl * 1000;
    const scopes = normalizeScope(request.scope);
    const dpop = this.#dpop && (await this.#dpop);
    const key = cacheKey(request.profile, request.subject, scopes, dpop?.thumbprint);
    let rejected: string | undefined;
    if (request.rejected !== undefined) {
      rejected = FINGERPRINT.test(request.rejected)
        ? request.rejected
        : await tokenFingerprint(request.rejected);
      const held = this.#memo.peek(key);
      if (held && (await tokenFingerprint(held.accessToken)) === rejected) this.#memo.drop(key);
    }

    const held = this.#memo.fresh(key, this.#clock(), minTtlMs);
    if (held) return this.#view(held);
    this.#honourRetryAfter(key);
    const flight = this.#memo.inFlight(key);
    if (flight) {
      const shared = await flight;
      if (shared.expiresAt - this.#clock() >= minTtlMs) return this.#view(shared);
    }
    const body = JSON.stringify({
      profile: request.profile,
      ...(request.subject === undefined ? {} : { subject: request.subject }),
      ...(scopes.length === 0 ? {} : { scope: scopes.join(' ') }),
      ...(request.minTtl === undefined ? {} : { minTtl: request.minTtl }),
      ...(rejected === undefined ? {} : { rejected }),
    });
    return this.#view(
      await this.#memo.start(key, this.#clock, () => this.#post(key, body, request.profile, dpop)),
    );
  }

  /**
   * A DPoP proof for one of the caller's own requests with a token from
   * {@link getToken}: send it as the `DPoP` header beside `Authorization: DPoP <token>`.
   * `nonce` is a resource server's `DPoP-Nonce`, when it asked for one (RFC 9449 §9).
   *
   * @throws TypeError when the client was made without `dpop: true`, or `url` is not http(s).
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
   */
  async proof(method: string, url: string | URL, accessToken?: string, nonce?: string): Promise<string> {
    if (this.#dpop === undefined) throw new TypeError('proof: make the client with dpop: true');
    return (await this.#dpop).proof(method, url, { accessToken, nonce });
  }

  /**
   * Refuses, without a request, a key the broker answered with `Retry-After` until that
   * time has passed: asking earlier only adds load where the provider asked for less.
   *
   * @throws TokenBrokerError `upstream_unavailable` with the seconds left in `retryAfter`.
   */
  #honourRetryAfter(key: string): void {
    const until = this.#notBefore.get(key);
    if (until === undefined) return;
    const left = Math.ceil((until - this.#clock()) / 1000);
    if (left <= 0) {
      this.#notBefore.delete(key);
      return;
    }
    throw new TokenBrokerError(
      'upstream_unavailable',
      `the broker asked to wait before asking again; retry after ${left} s`,
      { status: 503, retryAfter: left },
    );
  }

  /** Forgets every token held in memory. */
  clear(): void {
    this.#memo.clear();
  }

  /**
   * One token from the broker. With DPoP, a proof goes with each request; the broker's
   * answers teach the client what to sign: a proof for the wrong endpoint gets the
   * endpoint's `dpop_htm`/`dpop_htu`, and `use_dpop_nonce` the provider's `DPoP-Nonce`
   * (RFC 9449 §8). Each lesson is used once: at most three requests.
   */
  async #post(key: string, body: string, profile: string, dpop: DpopKey | undefined): Promise<HeldToken> {
    if (dpop === undefined) return this.#send(key, body, undefined);
    for (let attempt = 1; ; attempt += 1) {
      const target = this.#proofTargets.get(profile);
      // Not yet known: a proof for the broker's own URL, which the broker answers with the endpoint.
      const proof = await dpop.proof(target?.htm ?? 'POST', target?.htu ?? this.#url, {
        nonce: target?.nonce,
      });
      try {
        return await this.#send(key, body, proof, profile);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof TokenBrokerError) || !this.#learn(profile, err)) throw err;
      }
    }
  }

  /** Keeps what a DPoP refusal says to sign next; false when it teaches nothing new. */
  #learn(profile: string, err: TokenBrokerError): boolean {
    const known = this.#proofTargets.get(profile);
    if (this.#proofTargets.size > 1000) this.#proofTargets.clear();
    if (err.code === 'use_dpop_nonce' && known && err.dpopNonce && err.dpopNonce !== known.nonce) {
      this.#proofTargets.set(profile, { ...known, nonce: err.dpopNonce });
      return true;
    }
    const { dpopHtm: htm, dpopHtu: htu } = err;
    if (err.code === 'invalid_request' && htm && htu && (htm !== known?.htm || htu !== known.htu)) {
      this.#proofTargets.set(profile, { htm, htu });
      return true;
    }
    return false;
  }

  async #send(key: string, body: string, proof: string | undefined, profile?: string): Promise<HeldToken> {
    const startedAt = this.#clock();
    let signed: SignedRequest;
    try {
      signed = await this.#sign(
        this.#url,
        'POST',
        {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(proof === undefined ? {} : { dpop: proof }),
        },
        body,
        new Date(startedAt),
      );
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : 'unknown error';
      throw new TokenBrokerError('credentials', `no AWS credentials to sign the request: ${reason}`, {
        cause: err,
      });
    }
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(signed.url, {
        method: signed.method,
        headers: signed.headers,
        body: signed.body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await response.text();
    } catch (err) {
      throw new TokenBrokerError(
        'network',
        `could not reach the token broker at ${this.#url.origin} (${describeFailure(err)}); check the endpoint and the network`,
        { cause: err },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const retryAfter = retryAfterSeconds(response.headers.get('retry-after'), this.#clock());
      if (retryAfter !== undefined && retryAfter > 0) {
        if (this.#notBefore.size >= MAX_WAITING_KEYS) this.#notBefore.clear();
        this.#notBefore.set(key, this.#clock() + retryAfter * 1000);
      }
      throw errorFromResponse(response.status, json, retryAfter, response.headers.get('dpop-nonce'));
    }
    this.#notBefore.delete(key);
    const token = parseToken(json, response.status, startedAt);
    // RFC 9449 §8.2: a new nonce may come with a success; the next proof carries it.
    const nonce = proof === undefined ? undefined : dpopNonceOf(response.headers.get('dpop-nonce'));
    const known = profile === undefined ? undefined : this.#proofTargets.get(profile);
    if (nonce !== undefined && profile !== undefined && known !== undefined)
      this.#proofTargets.set(profile, { ...known, nonce });
    return token;
  }

  #view(token: HeldToken): BrokerToken {
    const expiresIn = Math.max(0, Math.floor((token.expiresAt - this.#clock()) / 1000));
    return {
      accessToken: token.accessToken,
      tokenType: token.tokenType,
      expiresAt: token.expiresAt,
      expiresIn,
      ...(token.scope === undefined ? {} : { scope: token.scope }),
      ...(token.fields === undefined ? {} : { fields: token.fields }),
    };
  }
}

/**
 * Validates a 200 body field by field. Expiry is counted from when the request was
 * sent, on the client's clock, so clock skew with the broker does not matter.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
function parseToken(json: unknown, status: number, startedAt: number): HeldToken {
  const fields = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const { access_token: accessToken, token_type: tokenType, expires_in: expiresIn, scope } = fields;
  const problem =
    typeof accessToken !== 'string' || accessToken === ''
      ? 'no access_token'
      : typeof tokenType !== 'string' || tokenType === ''
        ? 'no token_type'
        : typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn < 0
          ? 'no numeric expires_in'
          : scope !== undefined && typeof scope !== 'string'
            ? 'a scope that is not a string'
            : undefined;
  if (problem !== undefined)
    throw new TokenBrokerError(
      'invalid_response',
      `the broker's HTTP ${status} answer has ${problem}; check the endpoint points at the broker`,
      { status },
    );
  const extra: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (OWN_FIELDS.has(name)) continue;
    if (typeof value === 'string' || typeof value === 'boolean') extra[name] = value;
    else if (typeof value === 'number' && Number.isFinite(value)) extra[name] = value;
  }
  return {
    accessToken: accessToken as string,
    tokenType: tokenType as string,
    expiresAt: startedAt + (expiresIn as number) * 1000,
    scope: scope as string | undefined,
    ...(Object.keys(extra).length > 0 && { fields: extra }),
  };
}
