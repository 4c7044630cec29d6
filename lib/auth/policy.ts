import { RequestError } from '../errors.ts';
import type { Profile } from '../config/types.ts';
import type { Caller } from '../types.ts';
import { matchesAny } from './pattern.ts';

/**
 * Allows `caller` to use `profile` when its id matches one of the profile's `callers`
 * patterns. Deny by default: a profile without `callers` serves nobody.
 *
 * @throws RequestError `ERR_FORBIDDEN` naming the caller and the profile.
 */
export function authorizeCaller(profile: Pick<Profile, 'name' | 'callers'>, caller: Caller): void {
  if (caller.id !== '' && callerMatches(profile.callers, caller.id)) return;
  throw new RequestError(
    'ERR_FORBIDDEN',
    `caller "${caller.id}" may not use profile "${profile.name}"; add it to the profile's callers`,
    { details: { caller: caller.id, profile: profile.name } },
  );
}

/** How many callers' answers are remembered per `callers` list (the oldest goes first). */
export const SEEN_CALLERS_LIMIT = 256;

/**
 * Answers already worked out, per `callers` list: a configuration's lists are never
 * changed in place (a reload brings new lists, which start empty), so an answer stays
 * right for as long as its list is used.
 */
const seenCallers = new WeakMap<readonly string[], Map<string, boolean>>();

/** Whether `id` matches one of `patterns`, matched once per (list, caller) seen. */
function callerMatches(patterns: readonly string[], id: string): boolean {
  let seen = seenCallers.get(patterns);
  if (seen === undefined) {
    seen = new Map();
    seenCallers.set(patterns, seen);
  }
  const known = seen.get(id);
  if (known !== undefined) return known;
  const allowed = matchesAny(patterns, id);
  if (seen.size >= SEEN_CALLERS_LIMIT) seen.delete(seen.keys().next().value!);
  seen.set(id, allowed);
  return allowed;
}

/** Whether `subject` is one the profile's `subjects` patterns allow. */
export function subjectAllowed(profile: Pick<Profile, 'subjects'>, subject: string): boolean {
  return subject !== '' && matchesAny(profile.subjects, subject);
}
