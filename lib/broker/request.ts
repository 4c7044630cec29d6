import { subjectAllowed } from '../auth/policy.ts';
import { checkSubject, MAX_SUBJECT_LENGTH } from '../auth/subject.ts';
import { assertionAudience } from '../assertion/claims.ts';
import { RequestError } from '../errors.ts';
import type { Profile } from '../config/types.ts';
import { digestOf } from '../cache/key.ts';
import type { TokenDescriptor } from '../cache/types.ts';
import { DEFAULT_MIN_TTL } from '../cache/token-cache.ts';

/** Largest accepted `minTtl`, seconds (one day). */
export const MAX_MIN_TTL = 86_400;

/** A request checked against its profile. */
export interface ResolvedRequest {
  /** The assertion subject (for client-assertion: the client id). */
  readonly subject: string;
  /**
   * Requested scopes in the order written (the caller's, else the profile's), without
   * duplicates: sent so. The descriptor holds them sorted, for the cache key.
   */
  readonly scopes: readonly string[];
  readonly minTtlMs: number;
  readonly descriptor: TokenDescriptor;
  /** The caller's checked DPoP proof, when the request carries one (lib/broker/dpop.ts). */
  readonly dpop?: { readonly proof: string; readonly thumbprint: string } | undefined;
  /** Epoch ms by which the answer is due; the exchange deadline is cut to fit. */
  readonly deadlineAt?: number | undefined;
}

function invalid(message: string): RequestError {
  return new RequestError('ERR_INVALID_REQUEST', message);
}

/** Header names are case-insensitive (RFC 9110 §5.1): `X-A` and `x-a` send the same request. */
function lowerNames(values: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [name.toLowerCase(), value]));
}

/**
 * The `tokenExchange` settings that change what the provider answers (RFC 8693 §2.1), as
 * named values for the variant digest; none for other grants, so their keys stay the same.
 */
function exchangeVariant(profile: Profile): Record<string, string> {
  const settings = profile.tokenExchange;
  if (!settings) return {};
  return {
    subjectTokenType: settings.subjectTokenType,
    ...(settings.requestedTokenType !== undefined && { requestedTokenType: settings.requestedTokenType }),
    audience: JSON.stringify(settings.audience),
    resource: JSON.stringify(settings.resource),
  };
}

/** What the cache key of a token for `profile` is made of (docs/shared-cache.md "What a cached token is keyed by"). */
function tokenDescriptor(profile: Profile, subject: string, scopes: readonly string[]): TokenDescriptor {
  const audience = assertionAudience(profile);
  return {
    profile: profile.name,
    issuer: profile.issuer,
    subject,
    audience: typeof audience === 'string' ? audience : audience.join(' '),
    grant: profile.grant,
    scopes: [...scopes].sort(),
    endpoint: `${profile.tokenUri.method} ${profile.tokenUri.url}`,
    variant: digestOf({
      headers: lowerNames(profile.headers),
      params: profile.params,
      tokenExchange: exchangeVariant(profile),
    }),
  };
}

/**
 * Checks subject, scope and `minTtl` of a request against its profile: the subject
 * defaults to the profile's and must match its `subjects` patterns (the profile's own
 * default subject is always allowed); the scope (space-separated) defaults to the
 * profile's and must be a subset of it; its order and spelling are kept for the wire
 * (RFC 6749 §3.3: order does not matter, but some servers compare the string).
 *
 * Derived once per (profile, subject, scope): the subject and scope of a request seen
 * before on the same profile object come from {@link RESOLVED_LIMIT} remembered answers,
 * with the same frozen descriptor (a request without `minTtl`: the same frozen answer), so a
 * hit neither matches patterns nor digests the variant again, nor builds an answer. The answer is always {@link resolveRequestAfresh}'s.
 *
 * @throws RequestError `ERR_INVALID_REQUEST`, `ERR_SUBJECT_NOT_ALLOWED`, `ERR_SCOPE_NOT_ALLOWED`.
 */
export function resolveRequest(
  profile: Profile,
  request: { readonly subject?: unknown; readonly scope?: unknown; readonly minTtl?: unknown },
): ResolvedRequest {
  const place = rememberedPlace(request);
  const seen = place === undefined || !Object.isFrozen(profile) ? undefined : resolvedOf(profile);
  const known = place === undefined ? undefined : seen?.get(place);
  if (known === undefined) {
    const resolved = resolveRequestAfresh(profile, request);
    if (seen === undefined || place === undefined) return resolved;
    if (seen.size >= RESOLVED_LIMIT) seen.delete(seen.keys().next().value!);
    const remembered = rememberedOf(resolved);
    seen.set(place, remembered);
    // The first answer is the remembered one too: every request of a place shares one descriptor.
    return request.minTtl === undefined ? remembered.standard : withMinTtl(remembered, resolved.minTtlMs);
  }
  return request.minTtl === undefined ? known.standard : withMinTtl(known, minTtlMsOf(request.minTtl));
}

/** What is remembered of a resolved request, frozen; `standard` is the answer without `minTtl`. */
function rememberedOf(resolved: ResolvedRequest): Remembered {
  const place = {
    subject: resolved.subject,
    scopes: Object.freeze(resolved.scopes),
    descriptor: Object.freeze({
      ...resolved.descriptor,
      scopes: Object.freeze(resolved.descriptor.scopes),
    }),
  };
  return { ...place, standard: Object.freeze(withMinTtl(place, DEFAULT_MIN_TTL * 1000)) };
}

function withMinTtl(place: Place, minTtlMs: number): ResolvedRequest {
  return { subject: place.subject, scopes: place.scopes, minTtlMs, descriptor: place.descriptor };
}

/**
 * How many (subject, scope) answers are remembered per profile (the oldest goes first).
 * An answer holds names and digests, no secret; a reload brings new profile objects,
 * which start empty, and the old ones' answers go with them.
 */
export const RESOLVED_LIMIT = 256;

type Place = Pick<ResolvedRequest, 'subject' | 'scopes' | 'descriptor'>;

/**
 * A place's answer: its frozen parts, and the whole frozen answer for a request without
 * `minTtl` (most requests), which such requests share.
 */
interface Remembered extends Place {
  readonly standard: ResolvedRequest;
}

/**
 * Answers per profile object. A loaded configuration is frozen throughout (lib/config/parse.ts),
 * so what an answer depends on cannot change while its profile is used; a profile that is
 * not frozen is resolved afresh each time. The variant digests what the profile writes
 * (secret references, never resolved values), so a rotated secret does not change it.
 */
const resolvedByProfile = new WeakMap<Profile, Map<string, Remembered>>();

function resolvedOf(profile: Profile): Map<string, Remembered> {
  let seen = resolvedByProfile.get(profile);
  if (seen === undefined) {
    seen = new Map();
    resolvedByProfile.set(profile, seen);
  }
  return seen;
}

/**
 * Where a request's answer is remembered: its subject and scope as sent. Undefined when
 * either is neither absent nor a string short enough to be valid, which is never remembered.
 */
function rememberedPlace(request: {
  readonly subject?: unknown;
  readonly scope?: unknown;
}): string | undefined {
  const { subject, scope } = request;
  if (subject !== undefined && (typeof subject !== 'string' || subject.length > MAX_SUBJECT_LENGTH))
    return undefined;
  if (scope !== undefined && (typeof scope !== 'string' || scope.length > MAX_REMEMBERED_SCOPE))
    return undefined;
  // The subject's length keeps subject and scope apart; absent and empty are the same request.
  // A request naming neither (the profile's defaults) gets one constant place, hashed once.
  if ((subject === undefined || subject === '') && (scope === undefined || scope === ''))
    return DEFAULTS_PLACE;
  const s = subject ?? '';
  return `${s.length}:${s}${scope ?? ''}`;
}

/** The place of a request with neither subject nor scope: `rememberedPlace`'s form of them. */
const DEFAULTS_PLACE = '0:';

/** Longest scope string whose answer is remembered (a longer one is resolved each time). */
const MAX_REMEMBERED_SCOPE = 1024;

function minTtlMsOf(value: unknown): number {
  const minTtl = value ?? DEFAULT_MIN_TTL;
  if (typeof minTtl !== 'number' || !Number.isInteger(minTtl) || minTtl < 0 || minTtl > MAX_MIN_TTL)
    throw invalid(`minTtl must be a whole number of seconds from 0 to ${MAX_MIN_TTL}`);
  return minTtl * 1000;
}

/**
 * {@link resolveRequest} worked out in full, remembering nothing.
 *
 * @throws RequestError `ERR_INVALID_REQUEST`, `ERR_SUBJECT_NOT_ALLOWED`, `ERR_SCOPE_NOT_ALLOWED`.
 */
export function resolveRequestAfresh(
  profile: Profile,
  request: { readonly subject?: unknown; readonly scope?: unknown; readonly minTtl?: unknown },
): ResolvedRequest {
  if (
    request.subject !== undefined &&
    (typeof request.subject !== 'string' || request.subject.length > MAX_SUBJECT_LENGTH)
  )
    throw invalid(`subject must be a string of at most ${MAX_SUBJECT_LENGTH} characters`);
  let subject: string;
  if (profile.grant === 'client-assertion') {
    if (request.subject !== undefined && request.subject !== '' && request.subject !== profile.issuer)
      throw invalid(`profile "${profile.name}" authenticates as its client; it takes no subject`);
    subject = profile.issuer;
  } else {
    const asked = request.subject === undefined || request.subject === '' ? profile.subject : request.subject;
    if (!asked) throw invalid(`profile "${profile.name}" has no default subject; pass "subject"`);
    if (asked !== profile.subject) checkSubject(asked);
    if (asked !== profile.subject && !subjectAllowed(profile, asked))
      throw new RequestError(
        'ERR_SUBJECT_NOT_ALLOWED',
        `subject "${asked}" is not allowed for profile "${profile.name}"; ask for one its subjects patterns match`,
      );
    subject = asked;
  }

  if (request.scope !== undefined && typeof request.scope !== 'string')
    throw invalid('scope must be a space-separated string');
  const asked = (request.scope ?? '').split(/\s+/).filter(Boolean);
  const scopes = [...new Set(asked.length > 0 ? asked : profile.scopes)];
  const extra = scopes.filter((s) => !profile.scopes.includes(s));
  if (extra.length > 0)
    throw new RequestError(
      'ERR_SCOPE_NOT_ALLOWED',
      `scope "${extra.join(' ')}" is not allowed for profile "${profile.name}"; ask within "${profile.scopes.join(' ')}"`,
    );

  const minTtlMs = minTtlMsOf(request.minTtl);
  return { subject, scopes, minTtlMs, descriptor: tokenDescriptor(profile, subject, scopes) };
}
