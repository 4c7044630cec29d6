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
  readonly caller: Caller;
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
  /** Whether it came from a cache. */
  readonly cached: boolean;
}

/** Injected clock: epoch milliseconds. */
export type Clock = () => number;
