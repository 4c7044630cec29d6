import { randomUUID } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { GrantMode, Profile } from '../config/types.ts';

/** Claims the broker sets itself; `assertion.claims` may not name them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'sub',
  'aud',
  'iat',
  'nbf',
  'exp',
  'jti',
  'scope',
]);

/** The claim set of one assertion (RFC 7523 §3). Times are epoch seconds. */
export interface AssertionClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string | readonly string[];
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  readonly scope?: string;
  readonly [extra: string]: unknown;
}

/** What {@link buildClaims} needs. */
export interface ClaimsInput {
  readonly profile: Pick<
    Profile,
    'name' | 'issuer' | 'audience' | 'tokenUri' | 'grant' | 'scopeIn' | 'assertion'
  >;
  /** The subject (RFC 7523 §2.1); ignored in client-assertion mode, where sub = iss. */
  readonly subject: string | undefined;
  /** Scopes requested; put in the `scope` claim when the profile says `scopeIn: assertion`. */
  readonly scopes: readonly string[];
  /** Our clock, epoch milliseconds. */
  readonly now: number;
  /** Milliseconds to add to `now` (the provider's clock offset after a skew rejection). */
  readonly clockOffset?: number;
  /** Source of `jti`; default `crypto.randomUUID`. */
  readonly randomId?: () => string;
}

/**
 * The audience an assertion carries: the profile's `audience`. For §2.2 client
 * authentication it defaults to the token endpoint URL, as RFC 7523 §3 item 3 asks; a
 * profile may set the authorization server's issuer identifier instead, as
 * draft-ietf-oauth-rfc7523bis requires.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 * @see https://datatracker.ietf.org/doc/draft-ietf-oauth-rfc7523bis/
 */
export function assertionAudience(
  profile: Pick<Profile, 'audience' | 'tokenUri' | 'grant'>,
): string | readonly string[] {
  return profile.audience;
}

/**
 * Builds the claim set of an RFC 7523 assertion.
 *
 * `iat` and `nbf` are backdated by `assertion.skew` seconds (never more than half the
 * lifetime) and `exp = iat + lifetime`, so `exp - iat` never exceeds the lifetime the
 * preset capped: providers such as Google and DocuSign refuse assertions whose span is
 * longer than one hour.
 *
 * @throws ConfigError `ERR_CONFIG` when the §2.1 grant has no subject or extra claims
 *   name a reserved claim.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
export function buildClaims(input: ClaimsInput): AssertionClaims {
  const { profile } = input;
  const options = profile.assertion;
  const mode: GrantMode = profile.grant;
  for (const name of Object.keys(options.claims)) {
    if (RESERVED_CLAIMS.has(name))
      throw new ConfigError(
        'ERR_CONFIG',
        `profile "${profile.name}": assertion.claims may not set the reserved claim "${name}"; remove it`,
      );
  }
  let sub: string;
  if (mode === 'client-assertion') {
    sub = profile.issuer;
  } else if (input.subject) {
    sub = input.subject;
  } else {
    throw new ConfigError(
      'ERR_CONFIG',
      `profile "${profile.name}" uses the ${mode} grant but no subject was given; set "subject" or pass one`,
    );
  }
  const nowSeconds = Math.floor((input.now + (input.clockOffset ?? 0)) / 1000);
  const lifetime = Math.max(1, Math.floor(options.lifetime));
  const skew = Math.max(0, Math.min(Math.floor(options.skew), Math.floor(lifetime / 2)));
  const iat = nowSeconds - skew;
  const claims: Record<string, unknown> = {
    ...options.claims,
    iss: profile.issuer,
    sub,
    aud: assertionAudience(profile),
    iat,
    nbf: iat,
    exp: iat + lifetime,
    jti: (input.randomId ?? randomUUID)(),
  };
  if (profile.scopeIn === 'assertion' && input.scopes.length > 0) claims['scope'] = input.scopes.join(' ');
  return claims as unknown as AssertionClaims;
}
