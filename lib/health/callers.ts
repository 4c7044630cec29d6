/**
 * Who may ask for `GET /health?deep=1`. Deployed, the serverless param `healthDeepCallers`
 * (environment `TOKEN_BROKER_HEALTH_DEEP_CALLERS`) lists IAM ARN patterns, matched as
 * profiles' `callers` are; empty, nobody may. A plain `GET /health` stays open to every
 * authenticated caller.
 */
import { matchesAny } from '../auth/pattern.ts';
import { ConfigError, RequestError } from '../errors.ts';
import type { Caller } from '../types.ts';

/**
 * Parses the comma-separated patterns of `TOKEN_BROKER_HEALTH_DEEP_CALLERS`; unset or
 * empty is none.
 *
 * @throws ConfigError ERR_CONFIG when an entry is not an IAM ARN pattern (`arn:…`):
 *   deployed callers are IAM principals, so any other entry would match nobody.
 */
export function parseDeepCallers(value: string | undefined): readonly string[] {
  const patterns = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  const wrong = patterns.find((pattern) => !pattern.startsWith('arn:'));
  if (wrong !== undefined) {
    throw new ConfigError(
      'ERR_CONFIG',
      `healthDeepCallers: "${wrong}" is not an IAM ARN pattern; write arn:aws:iam::<account>:role/<name> (* allowed)`,
    );
  }
  return patterns;
}

/**
 * Allows `caller` to ask for a deep check when its id matches one of `patterns`;
 * `undefined` patterns allow every authenticated caller (the local server).
 *
 * @throws RequestError `ERR_FORBIDDEN` naming the caller.
 */
export function authorizeDeepHealth(caller: Caller, patterns: readonly string[] | undefined): void {
  if (patterns === undefined || (caller.id !== '' && matchesAny(patterns, caller.id))) return;
  throw new RequestError(
    'ERR_FORBIDDEN',
    `caller "${caller.id}" may not ask for GET /health?deep=1; add it to the healthDeepCallers param`,
    { details: { caller: caller.id } },
  );
}
