import { SecretError } from '../errors.ts';

/** `secretsmanager:<name-or-arn>[#<json-field>][?stage=<label>|?version=<id>]` */
export interface SecretsManagerReference {
  readonly scheme: 'secretsmanager';
  /** Secret name or full ARN (ARNs contain colons). */
  readonly secretId: string;
  /** Top-level JSON field of the SecretString, when the secret is a JSON object. */
  readonly field: string | undefined;
  /** VersionStage, e.g. `AWSCURRENT`, `AWSPENDING`. */
  readonly stage: string | undefined;
  /** VersionId. */
  readonly version: string | undefined;
}

/** `file:<path>`, relative paths resolved against the working directory. */
export interface FileReference {
  readonly scheme: 'file';
  readonly path: string;
}

/** `env:<VAR>` */
export interface EnvReference {
  readonly scheme: 'env';
  readonly name: string;
}

/**
 * `plain:<value>`: the value written inline. Meant for local experiments only
 * (`import datadirect --include-secrets`); `check` warns about every one.
 */
export interface PlainReference {
  readonly scheme: 'plain';
  readonly value: string;
}

export type SecretReference = SecretsManagerReference | FileReference | EnvReference | PlainReference;

/** Schemes a reference may start with. */
const SECRET_SCHEMES = ['secretsmanager', 'file', 'env', 'plain'] as const;

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const VERSION_STAGE = /^[A-Za-z0-9_+=.@-]{1,256}$/;
const VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The reference as it may appear in a message: the reference itself, except that an
 * inline `plain:` value is never repeated, and neither is text with no known scheme (a
 * password written where its reference belongs).
 */
export function describeReference(reference: string): string {
  if (reference.trimStart().toLowerCase().startsWith('plain:')) return 'plain:<inline value>';
  return isSecretReference(reference) ? reference : '<not a reference>';
}

/** True when `value` starts with a known secret scheme (`secretsmanager:`, `file:`, `env:`, `plain:`). */
export function isSecretReference(value: string): boolean {
  const colon = value.indexOf(':');
  return colon > 0 && (SECRET_SCHEMES as readonly string[]).includes(value.slice(0, colon));
}

/** The problem alone, without the reference, for messages that name the key instead (config). */
export const REFERENCE_PROBLEM = 'problem';

function fail(reference: string, problem: string): never {
  throw new SecretError(
    'ERR_SECRET_REFERENCE',
    `secret reference "${describeReference(reference)}": ${problem}`,
    { details: { [REFERENCE_PROBLEM]: problem } },
  );
}

/**
 * Parses a secret reference without resolving it.
 *
 * The `#field` and `?query` parts follow the name in either order; secret names and
 * ARNs never contain `#` or `?`, so the first of either ends the name.
 *
 * @throws SecretError `ERR_SECRET_REFERENCE` for a malformed reference or an unknown scheme.
 */
export function parseReference(reference: string): SecretReference {
  const colon = reference.indexOf(':');
  const scheme = colon > 0 ? reference.slice(0, colon) : '';
  const body = reference.slice(colon + 1);
  switch (scheme) {
    case 'secretsmanager':
      return parseSecretsManager(reference, body);
    case 'file':
      if (body === '') fail(reference, 'file: needs a path, e.g. file:./keystore.p12');
      return { scheme: 'file', path: body };
    case 'env':
      if (!ENV_NAME.test(body)) fail(reference, 'env: needs a variable name of letters, digits and _');
      return { scheme: 'env', name: body };
    case 'plain':
      return { scheme: 'plain', value: body };
    default:
      return fail(
        reference,
        'not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
      );
  }
}

function parseSecretsManager(reference: string, body: string): SecretsManagerReference {
  const hash = body.indexOf('#');
  const query = body.indexOf('?');
  const ends = [hash, query].filter((i) => i >= 0);
  const nameEnd = ends.length > 0 ? Math.min(...ends) : body.length;
  const secretId = body.slice(0, nameEnd);
  let field: string | undefined;
  let queryText: string | undefined;
  if (hash >= 0) field = body.slice(hash + 1, query > hash ? query : body.length);
  if (query >= 0) queryText = body.slice(query + 1, hash > query ? hash : body.length);

  if (secretId === '') fail(reference, 'secretsmanager: needs a secret name or ARN');
  if (secretId.startsWith('arn:')) {
    if (!SECRET_ARN.test(secretId))
      fail(reference, 'not a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)');
  } else if (!SECRET_NAME.test(secretId)) {
    fail(reference, 'a secret name holds only letters, digits and /_+=.@-');
  }
  if (field === '') fail(reference, 'empty JSON field after "#"');

  let stage: string | undefined;
  let version: string | undefined;
  if (queryText !== undefined) {
    const params = new URLSearchParams(queryText);
    for (const [key, value] of params) {
      if (key === 'stage') {
        if (!VERSION_STAGE.test(value))
          fail(reference, 'stage must be a version label (letters, digits and _+=.@-)');
        stage = value;
      } else if (key === 'version') {
        if (!VERSION_ID.test(value)) fail(reference, `version must be a VersionId (32-64 characters)`);
        version = value;
      } else {
        fail(reference, `unknown parameter "${key}"; use ?stage=<label> or ?version=<id>`);
      }
    }
    if (stage !== undefined && version !== undefined) fail(reference, 'give ?stage= or ?version=, not both');
    if (stage === undefined && version === undefined)
      fail(reference, 'empty query; use ?stage=<label> or ?version=<id>');
  }
  return { scheme: 'secretsmanager', secretId, field, stage, version };
}
