/**
 * The function's own identity as a JWT: STS `GetWebIdentityToken` on the regional endpoint,
 * with the credentials of the function's role (the SDK's default chain). Keyless profiles
 * send it where others send an assertion signed with their key (docs/keyless.md).
 *
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_GetWebIdentityToken.html
 */
import { hash } from 'node:crypto';
import type { StsApi, StsApiFactory, WebIdentityTokenRequest } from '../aws/sts.ts';
import type { WebIdentityOptions } from '../config/types.ts';
import { WebIdentityError } from '../errors.ts';
import { silentLogger, type Clock, type Logger } from '../types.ts';
import { webIdentityError } from './web-identity-errors.ts';

/**
 * How long before its own `Expiration` a held JWT stops being handed out, at most: the
 * provider must still find it valid when it reads it, after the exchange's own retries.
 */
export const WEB_IDENTITY_REUSE_MARGIN_MS = 60_000;

/**
 * How long a refusal that a keystore key cures (`webIdentity.fallback: keystore`) is
 * remembered: while it holds, such profiles use their key without asking STS again, so a
 * disabled account or region costs one STS call per five minutes, not one per token.
 */
export const WEB_IDENTITY_REFUSAL_MEMORY_MS = 5 * 60_000;

/** The longest web identity token taken from STS, characters (its JWTs are a few KiB). */
export const MAX_WEB_IDENTITY_TOKEN_CHARS = 16_384;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+$/;

/**
 * When a token STS answered stops being usable: the earlier of its `Expiration` and the
 * JWT's own `exp` (a provider checks `exp`). A token that is not a compact JWS of at most
 * {@link MAX_WEB_IDENTITY_TOKEN_CHARS}, or has no numeric `exp`, is refused (never quoted).
 *
 * @throws WebIdentityError `ERR_WEB_IDENTITY_UNAVAILABLE`.
 */
export function usableUntil(token: string, expiration: Date): number {
  const payload = token.length <= MAX_WEB_IDENTITY_TOKEN_CHARS ? COMPACT_JWS.exec(token)?.[1] : undefined;
  let exp: unknown;
  try {
    exp =
      payload === undefined
        ? undefined
        : (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
  } catch {
    exp = undefined;
  }
  if (typeof exp !== 'number' || !Number.isFinite(exp))
    throw new WebIdentityError(
      'ERR_WEB_IDENTITY_UNAVAILABLE',
      `STS answered GetWebIdentityToken with something other than a JWT with an exp claim of at most ${MAX_WEB_IDENTITY_TOKEN_CHARS} characters; check the STS endpoint (AWS_ENDPOINT_URL_STS) the function uses`,
      { details: { retry: false } },
    );
  return Math.min(expiration.getTime(), exp * 1000);
}

/** What {@link WebIdentitySource} needs. */
export interface WebIdentitySourceOptions {
  /** STS per region; default: SDK clients with the ambient configuration. */
  readonly sts?: StsApiFactory | undefined;
  /** The region whose STS endpoint is called; default: the ambient one (`AWS_REGION`). */
  readonly region?: string | undefined;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Held {
  readonly token: string;
  /** Epoch ms after which the JWT is not handed out any more. */
  readonly usableUntil: number;
}

/** The JWT a request for `settings` is held under: every value STS puts in it. */
function heldKey(settings: WebIdentityTokenRequest): string {
  return JSON.stringify([
    [...settings.audience].sort(),
    settings.algorithm,
    settings.lifetime,
    Object.entries(settings.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]);
}

/** The STS request for a profile's `webIdentity`. */
const requestOf = (settings: WebIdentityOptions): WebIdentityTokenRequest => ({
  audience: settings.audience,
  algorithm: settings.algorithm,
  lifetime: settings.lifetime,
  tags: settings.tags,
});

/** How the JWT is named in logs: the first 8 hex digits of its SHA-256. Never the JWT itself. */
const fingerprint = (token: string): string => hash('sha256', token, 'hex').slice(0, 8);

/**
 * Web identity tokens, held in memory only (never in the shared table) until shortly before
 * their own expiry, one STS call at a time per (audience, algorithm, lifetime, tags):
 * concurrent callers share the call in flight, as jose's remote JWKS shares one fetch.
 * A failed call is not kept.
 */
export class WebIdentitySource {
  readonly #options: WebIdentitySourceOptions;
  readonly #held = new Map<string, Held>();
  readonly #inFlight = new Map<string, Promise<string>>();
  readonly #refusals = new Map<string, { readonly error: unknown; readonly until: number }>();
  #factory: StsApiFactory | undefined;
  #calls = 0;

  constructor(options: WebIdentitySourceOptions = {}) {
    this.#options = options;
    this.#factory = options.sts;
  }

  /** STS calls made so far (for `check` and tests). */
  get calls(): number {
    return this.#calls;
  }

  /**
   * A web identity JWT for `settings`: the one held while it is usable, else a new one.
   *
   * @throws WebIdentityError `ERR_WEB_IDENTITY_DISABLED`, `ERR_WEB_IDENTITY_DENIED`,
   *   `ERR_WEB_IDENTITY_REGION`, `ERR_WEB_IDENTITY_THROTTLED`, `ERR_WEB_IDENTITY_UNAVAILABLE`;
   *   ConfigError `ERR_CONFIG` when the JWT would be too large.
   */
  async token(settings: WebIdentityOptions): Promise<string> {
    const request = requestOf(settings);
    const key = heldKey(request);
    const clock = this.#options.clock ?? Date.now;
    const held = this.#held.get(key);
    if (held !== undefined && clock() < held.usableUntil) return held.token;
    if (held !== undefined) this.#held.delete(key);
    let flight = this.#inFlight.get(key);
    if (flight === undefined) {
      flight = this.#fetch(key, request).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, flight);
    }
    return flight;
  }

  /**
   * A JWT STS signs now for `settings`, never the one held (which it replaces): for a
   * provider that refused the held one's times, a new one has its whole life ahead.
   * Concurrent callers still share one call.
   *
   * @throws as {@link token}.
   */
  async fresh(settings: WebIdentityOptions): Promise<string> {
    this.#held.delete(heldKey(requestOf(settings)));
    return this.token(settings);
  }

  /**
   * The refusal {@link remember} keeps for `settings`, while it holds
   * ({@link WEB_IDENTITY_REFUSAL_MEMORY_MS} from when it was remembered); else undefined.
   */
  remembered(settings: WebIdentityOptions): unknown {
    const key = heldKey(requestOf(settings));
    const refusal = this.#refusals.get(key);
    if (refusal === undefined) return undefined;
    if ((this.#options.clock ?? Date.now)() < refusal.until) return refusal.error;
    this.#refusals.delete(key);
    return undefined;
  }

  /** Remembers `error`, a refusal a key cures, for `settings` ({@link remembered}). */
  remember(settings: WebIdentityOptions, error: unknown): void {
    const until = (this.#options.clock ?? Date.now)() + WEB_IDENTITY_REFUSAL_MEMORY_MS;
    this.#refusals.set(heldKey(requestOf(settings)), { error, until });
  }

  /** Forgets every held JWT and remembered refusal (the next request calls STS). */
  clear(): void {
    this.#held.clear();
    this.#refusals.clear();
  }

  async #fetch(key: string, request: WebIdentityTokenRequest): Promise<string> {
    const clock = this.#options.clock ?? Date.now;
    const logger = this.#options.logger ?? silentLogger;
    let api: StsApi | undefined;
    let region = this.#options.region;
    try {
      this.#factory ??= (await import('../aws/sts.ts')).stsApiFactory();
      api = await this.#factory(region);
      // The SDK throws when no region is configured anywhere: that is the missing region.
      region ??= await api.region().catch(() => undefined);
      if (region === undefined || region === 'aws-global')
        throw new WebIdentityError(
          'ERR_WEB_IDENTITY_REGION',
          `STS GetWebIdentityToken needs a regional endpoint, and ${region === undefined ? 'no region is set' : 'the region is aws-global'}; set AWS_REGION (or cache.region) to the function's region`,
        );
      this.#calls += 1;
      const asked = clock();
      const answer = await api.getWebIdentityToken(request);
      const expiresAt = usableUntil(answer.token, answer.expiration);
      const margin = Math.min(WEB_IDENTITY_REUSE_MARGIN_MS, Math.max(0, (expiresAt - asked) / 2));
      this.#held.set(key, { token: answer.token, usableUntil: expiresAt - margin });
      logger.debug('web identity token obtained', {
        fingerprint: fingerprint(answer.token),
        audience: request.audience.join(' '),
        expiresAt: answer.expiration.toISOString(),
      });
      return answer.token;
    } catch (err) {
      throw webIdentityError(err, request.audience, region);
    }
  }
}
