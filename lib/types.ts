/** Who is asking for a token. */
export interface Caller {
  /**
   * The caller's identity as matched against a profile's `callers` patterns: an IAM role
   * or user ARN (assumed-role sessions normalised to their role ARN), an API key's name,
   * `local` on loopback without keys, `schedule` for the refresh function, `cli` for the CLI.
   */
  readonly id: string;
  readonly kind: 'iam' | 'api-key' | 'local' | 'schedule' | 'cli';
}

/** A token request (DESIGN.md `POST /token`). */
export interface IssueRequest {
  readonly profile: string;
  /** Subject; default: the profile's `subject`. */
  readonly subject?: string | undefined;
  /** Space-separated scope; default: the profile's scope. Must be within it. */
  readonly scope?: string | undefined;
  /** Minimum remaining lifetime, in seconds, of the token handed back; default 60. */
  readonly minTtl?: number | undefined;
  /**
   * Fingerprint (first 8 hex of SHA-256) of a token the caller's API refused: when the
   * cached token still has it, it is dropped and a new one fetched (at most once per key
   * per `FORCED_REFRESH_INTERVAL_MS`).
   */
  readonly rejected?: string | undefined;
  /**
   * The `DPoP` request header: the caller's proof (RFC 9449 §4) for the profile's token
   * endpoint, forwarded unchanged. A credential: never log it.
   */
  readonly dpop?: string | undefined;
  readonly caller: Caller;
  /** Where the request came from (API Gateway request id, source IP), for the audit line. */
  readonly origin?: { readonly requestId?: string | undefined; readonly sourceIp?: string | undefined };
}

/** A token handed back to a caller (DESIGN.md `POST /token` 200 body plus `cached`). */
export interface IssuedToken {
  readonly access_token: string;
  readonly token_type: string;
  /** Seconds left at the time of the answer. */
  readonly expires_in: number;
  /** Expiry as epoch seconds. */
  readonly expires_at: number;
  readonly scope?: string | undefined;
  /** Provider fields passed on (`responseFields`), shown in the 200 body under their own names. */
  readonly fields?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** Whether it came from a cache. */
  readonly cached: boolean;
  /**
   * A `DPoP-Nonce` the provider sent with this token (RFC 9449 §8.2), for the caller's next
   * proof: a response header, never in the body. Only on the answer that obtained the token.
   */
  readonly dpopNonce?: string | undefined;
}

/** Injected clock: epoch milliseconds. */
export type Clock = () => number;

/** The broker's one operation, as the handlers, the CLI and the schedule see it. */
export interface Broker {
  /**
   * Authorizes the caller, then serves the token from cache or obtains a new one.
   * @throws BrokerError with codes ERR_UNKNOWN_PROFILE, ERR_FORBIDDEN, ERR_SUBJECT_NOT_ALLOWED,
   * ERR_SCOPE_NOT_ALLOWED, ERR_CONSENT_REQUIRED, ERR_UPSTREAM_*, ERR_SECRET_*, ERR_KEYSTORE_*.
   */
  issue(request: IssueRequest): Promise<IssuedToken>;
}

/** Structured fields of a log line. Never put a secret in one: use a fingerprint. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined | null>>;

/** Minimal structured logger, injected into lib/ (Powertools Logger under Lambda). */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /**
   * Whether `debug` writes anything now (it may change per invocation: Powertools' log
   * sampling). A hot path asks this before building a debug line's fields; a logger
   * without it is taken to write debug lines.
   */
  isDebugEnabled?(): boolean;
}

/** Whether `logger` writes debug lines now ({@link Logger.isDebugEnabled}; true when it cannot say). */
export function debugEnabled(logger: Logger): boolean {
  return logger.isDebugEnabled?.() ?? true;
}

/** Metric names the broker emits (EMF under Lambda). */
export type MetricName =
  | 'TokensIssued'
  | 'CacheHits'
  | 'CacheMisses'
  | 'UpstreamLatency'
  | 'UpstreamErrors'
  | 'SharedCacheFallbacks'
  | 'RefreshFailures'
  | 'UpstreamScopeWidened'
  | 'CertificateDaysLeft'
  | 'EventsSent'
  | 'EventsFailed';

/** Minimal metrics sink, injected into lib/. */
export interface Metrics {
  /** Adds `value` (default 1) to a counter; `dimension` e.g. `{ code: 'ERR_UPSTREAM_TIMEOUT' }`. */
  count(name: MetricName, value?: number, dimension?: Readonly<Record<string, string>>): void;
  /** Records a duration in milliseconds. */
  timing(name: MetricName, milliseconds: number): void;
}

/**
 * A metrics sink that buffers and is flushed once per invocation (Powertools EMF). Lives
 * here, below both lib/http (which flushes it) and lib/observability (which makes it).
 */
export interface FlushableMetrics extends Metrics {
  flush?(): void;
}

/** A logger that drops everything (tests, CLI). */
export const silentLogger: Logger = {
  isDebugEnabled: () => false,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A metrics sink that drops everything. */
export const noMetrics: Metrics = { count: () => undefined, timing: () => undefined };
