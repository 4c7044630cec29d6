import { createHash, randomBytes } from 'node:crypto';
import { SecretError } from '../errors.ts';
import type { EnvReference } from './reference.ts';
import type { RawSecret } from './value.ts';

// A per-process salt, so the version marker of a short value cannot be looked up offline.
const SALT = randomBytes(16);

/** Version marker of a text value: a salted hash, never the value. */
export function textVersion(text: string): string {
  return createHash('sha256').update(SALT).update(text).digest('hex').slice(0, 16);
}

/**
 * Reads an `env:` reference from the injected environment.
 *
 * @throws SecretError `ERR_SECRET_REFERENCE` when the variable is not set or empty.
 */
export function readEnvSecret(
  env: Readonly<Record<string, string | undefined>>,
  reference: string,
  parsed: EnvReference,
): RawSecret {
  const value = env[parsed.name];
  if (value === undefined || value === '') {
    throw new SecretError(
      'ERR_SECRET_REFERENCE',
      `secret reference "${reference}": environment variable ${parsed.name} is not set`,
    );
  }
  return { binary: undefined, text: value, version: textVersion(value) };
}
