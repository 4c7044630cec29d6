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
  if (caller.id !== '' && matchesAny(profile.callers, caller.id)) return;
  throw new RequestError(
    'ERR_FORBIDDEN',
    `caller "${caller.id}" may not use profile "${profile.name}"; add it to the profile's callers`,
    { details: { caller: caller.id, profile: profile.name } },
  );
}

/** Whether `subject` is one the profile's `subjects` patterns allow. */
export function subjectAllowed(profile: Pick<Profile, 'subjects'>, subject: string): boolean {
  return subject !== '' && matchesAny(profile.subjects, subject);
}
