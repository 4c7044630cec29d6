import type { ProviderName } from '../config/types.ts';
import type { UpstreamRejected } from '../errors.ts';
import type { Clock } from '../types.ts';

/** Difference between the provider's `Date` and our clock above which a skew retry is made. */
export const SKEW_THRESHOLD_MS = 30_000;
/** How long a measured clock offset is used for later assertions to the same host, ms (15 min). */
export const SKEW_MEMORY_MS = 15 * 60_000;
/** Most token endpoint hosts whose offset is remembered at once. */
export const SKEW_MEMORY_ENTRIES = 256;

/** Texts of the generic `invalid_grant` / `invalid_client` answers about iat, nbf and exp. */
const GENERIC_SKEW = /\b(iat|nbf|exp|expired|not yet valid|not valid yet|clock|future|skew|issued)\b/i;

/**
 * What each provider says when an assertion is outside its time window, beside the generic
 * texts: Entra's AADSTS700024 ("Client assertion is not within its valid time range") and
 * AADSTS700003-style codes, Google's "Token must be a short-lived token (60 minutes) and in
 * a reasonable timeframe".
 */
export const SKEW_MESSAGES: Readonly<Record<ProviderName, readonly RegExp[]>> = {
  docusign: [],
  'docusign-demo': [],
  salesforce: [],
  'salesforce-sandbox': [],
  google: [/short-lived token .*reasonable timeframe/i],
  entra: [/\bAADSTS700024\b/, /\bAADSTS700003\b/, /\bAADSTS500133\b/, /not within its valid time range/i],
  okta: [/client_assertion token (is expired|has an expiration|has an issued at)/i],
  // AWS signs the web identity JWT with its own clock: no offset changes its times, and a
  // skew retry sends a JWT STS signs afresh (lib/broker/keyless.ts), never the same one.
  'entra-federated': [],
  'google-wif': [],
  generic: [],
};

/** True when a rejection says the assertion's times are wrong (a clock skew symptom). */
export function isSkewRejection(err: UpstreamRejected, provider: ProviderName): boolean {
  if (err.error !== 'invalid_grant' && err.error !== 'invalid_client') return false;
  const text = err.errorDescription ?? '';
  return GENERIC_SKEW.test(text) || SKEW_MESSAGES[provider].some((pattern) => pattern.test(text));
}

/**
 * Clock offsets of token endpoint hosts, measured from the `Date` header of a skew
 * rejection, kept for {@link SKEW_MEMORY_MS} so later assertions are signed on the
 * provider's clock at once instead of each costing one rejected request first. Bounded to
 * {@link SKEW_MEMORY_ENTRIES} hosts (oldest dropped).
 */
export class SkewMemory {
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #offsets = new Map<string, { offset: number; until: number }>();

  constructor(clock: Clock = Date.now, ttlMs = SKEW_MEMORY_MS) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  /** The remembered offset of `host` in ms, 0 when none or expired. */
  get(host: string): number {
    const entry = this.#offsets.get(host);
    if (!entry) return 0;
    if (entry.until <= this.#clock()) {
      this.#offsets.delete(host);
      return 0;
    }
    return entry.offset;
  }

  /** Remembers `offset` for `host`; an offset within the threshold forgets it. */
  set(host: string, offset: number): void {
    this.#offsets.delete(host);
    if (Math.abs(offset) <= SKEW_THRESHOLD_MS) return;
    if (this.#offsets.size >= SKEW_MEMORY_ENTRIES) this.#offsets.delete(this.#offsets.keys().next().value!);
    this.#offsets.set(host, { offset, until: this.#clock() + this.#ttlMs });
  }
}
