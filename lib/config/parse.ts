import { isScalar, parseDocument, visit, type Document } from 'yaml';
import type { ZodError } from 'zod';
import { closest, locate, problem, throwProblems, unknownKeyMessage } from './messages.ts';
import { normaliseProfile, referenceProblem, type Findings } from './profile.ts';
import {
  configSchema,
  FIELD_NAME,
  HEADER_NAME,
  knownKeysAt,
  PROFILE_NAME_RULE,
  type RawConfig,
} from './schema.ts';
import type { BrokerConfig, Profile } from './types.ts';
import { parseSecureUrl, UriProblem } from './uri.ts';
import { PROVIDER_NAMES } from './presets.ts';
import { oneLineText } from '../text.ts';

/** Default DynamoDB table of the shared cache. */
export const DEFAULT_CACHE_TABLE = 'token-broker-cache';
/** Default seconds before expiry a cached token counts as stale. */
export const DEFAULT_REFRESH_MARGIN = 300;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Most alias uses (`*name`) a file may make: a few are handy, thousands are an alias bomb. */
export const MAX_ALIAS_COUNT = 100;

/** Keys a JavaScript object cannot hold as data: `__proto__` would set the prototype and vanish. */
function forbiddenKeys(doc: Document, text: string, source: string): string[] {
  const problems: string[] = [];
  visit(doc, {
    Pair(_key, pair, path) {
      if (!isScalar(pair.key) || pair.key.value !== '__proto__') return;
      const before = text.slice(0, pair.key.range?.[0] ?? 0).split(/\r?\n/);
      const at = `line ${before.length}, column ${before.at(-1)!.length + 1}`;
      // path: Document, the root map, the `profiles` pair, its map.
      const underProfiles =
        path.length === 4 &&
        isScalar((path[2] as { key?: unknown }).key) &&
        (path[2] as { key: { value: unknown } }).key.value === 'profiles';
      problems.push(
        underProfiles
          ? `profile "__proto__": ${PROFILE_NAME_RULE} (${at})`
          : `${source}: the key "__proto__" is not allowed (${at}); rename it`,
      );
    },
  });
  return problems;
}

/**
 * Mappings whose keys may be secrets when written by mistake (a raw API key, a secret
 * access key where its id belongs): a problem there names the mapping, never the key.
 */
const SECRET_KEYED: readonly { path: readonly string[]; key: RegExp; message: string }[] = [
  {
    path: ['server', 'apiKeys'],
    key: /^sha256:[0-9a-f]{64}$/,
    message: 'an entry is not "sha256:<64 lower-case hex>"; put the SHA-256 of the key, never the key',
  },
  {
    path: ['server', 'sigv4', 'credentials'],
    key: /^[A-Z0-9]{16,128}$/,
    message:
      'an entry is not keyed by an access key id (16 to 128 upper-case letters or digits); the secret access key goes in "secret", by reference',
  },
  // A header or parameter written whole as a key ("Authorization: Bearer …") holds its value.
  {
    path: ['profiles', '*', 'headers'],
    key: HEADER_NAME,
    message: "an entry's name is not an HTTP token; write { Name: value }, a secret value by reference",
  },
  {
    path: ['profiles', '*', 'params'],
    key: FIELD_NAME,
    message:
      'an entry\'s name is not letters, digits, "_", ".", ":" and "-" (at most 64); write { name: value }, a secret value by reference',
  },
];

function matchesPath(pattern: readonly string[], path: readonly PropertyKey[]): boolean {
  return pattern.length === path.length && pattern.every((part, i) => part === '*' || path[i] === part);
}

/** The line for a problem inside a secret-keyed mapping whose key breaks its rule, if so. */
function secretKeyedProblem(path: readonly PropertyKey[]): string | undefined {
  for (const rule of SECRET_KEYED) {
    const n = rule.path.length;
    if (path.length <= n || !matchesPath(rule.path, path.slice(0, n))) continue;
    if (!rule.key.test(String(path[n]))) return problem(path.slice(0, n), rule.message);
  }
  return undefined;
}

/** The key names leading to the mapping pair whose key starts at `offset`. */
function keyPathAt(doc: Document, offset: number): string[] | undefined {
  let found: string[] | undefined;
  visit(doc, {
    Pair(_key, pair, path) {
      if (!isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined;
      found = path.flatMap((node) => {
        const key = (node as { key?: unknown }).key;
        return isScalar(key) ? [String(key.value)] : [];
      });
      return visit.BREAK;
    },
  });
  return found;
}

/** Zod issues as complete lines naming the profile and key. */
function zodProblems(error: ZodError, input: unknown): string[] {
  const lines: string[] = [];
  for (const issue of error.issues) {
    const hidden = secretKeyedProblem(issue.path);
    if (hidden !== undefined) {
      if (!lines.includes(hidden)) lines.push(hidden);
    } else if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        // Under `server`, a key that is no typo of a setting may be an API key missing its `apiKeys:`.
        const unnamed = issue.path[0] === 'server' && closest(key, known) === undefined;
        lines.push(
          unnamed
            ? problem(
                issue.path,
                `an unknown key (not repeated: it may be a secret); known keys: ${known.join(', ')}`,
              )
            : problem([...issue.path, key], unknownKeyMessage(key, known)),
        );
      }
    } else if (issue.code === 'invalid_value') {
      const got = valueAt(input, issue.path);
      const options = issue.values.map((v) => `"${String(v)}"`).join(', ');
      const guess = typeof got === 'string' ? closest(got, issue.values.map(String)) : undefined;
      const hint = guess ? `; did you mean "${guess}"?` : '';
      lines.push(problem(issue.path, `must be one of ${options}, got ${JSON.stringify(got)}${hint}`));
    } else if (issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined) {
      lines.push(problem(issue.path, 'required'));
    } else if (issue.code === 'invalid_type' && !issue.message.startsWith('Invalid input')) {
      lines.push(problem(issue.path, issue.message));
    } else if (issue.code === 'invalid_type') {
      const got = valueAt(input, issue.path);
      const kind = Array.isArray(got) ? 'a list' : got === null ? 'null' : `a ${typeof got}`;
      lines.push(
        problem(
          issue.path,
          `expected ${issue.expected === 'object' ? 'a mapping' : issue.expected}, got ${kind}`,
        ),
      );
    } else if (issue.code === 'invalid_key') {
      lines.push(problem(issue.path, issue.issues.map((i) => i.message).join('; ')));
    } else {
      lines.push(problem(issue.path, issue.message.replace(/^Invalid input: /, '')));
    }
  }
  return lines;
}

function topLevel(
  raw: RawConfig,
  findings: Findings,
): Omit<BrokerConfig, 'profiles' | 'source' | 'warnings'> {
  const add = (key: string, msg: string) => findings.problems.push(`${key}: ${msg}`);
  const secret = (key: string, value: string | undefined) => {
    const p = value === undefined ? undefined : referenceProblem(value);
    if (p) add(key, p);
  };
  const url = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    try {
      parseSecureUrl(value);
    } catch (err) {
      if (err instanceof UriProblem) add(key, err.message);
      else throw err;
    }
  };
  const cache = raw.cache ?? {};
  secret('cache.sealKey', cache.sealKey);
  url('cache.endpoint', cache.endpoint);
  secret('consent.stateKey', raw.consent?.stateKey);
  url('consent.baseUrl', raw.consent?.baseUrl);
  for (const [id, cred] of Object.entries(raw.server?.sigv4?.credentials ?? {})) {
    secret(`server.sigv4.credentials.${id}.secret`, cred.secret);
  }
  return {
    cache: {
      store: cache.store ?? 'memory',
      table: cache.table ?? DEFAULT_CACHE_TABLE,
      endpoint: cache.endpoint,
      region: cache.region,
      sealKey: cache.sealKey,
      refreshMargin: cache.refreshMargin ?? DEFAULT_REFRESH_MARGIN,
    },
    consent: { stateKey: raw.consent?.stateKey, baseUrl: raw.consent?.baseUrl },
    server: { apiKeys: raw.server?.apiKeys ?? {}, sigv4: raw.server?.sigv4 },
  };
}

/**
 * Parses and validates a configuration (YAML, or JSON which is YAML too) into a deeply
 * frozen {@link BrokerConfig}: every profile with its preset and defaults applied.
 * Capped assertion lifetimes are reported in `warnings`.
 *
 * @param source where the text came from (a path), used in messages.
 * @throws ConfigError `ERR_CONFIG` listing every problem, one complete message per line.
 * @see https://www.rfc-editor.org/rfc/rfc7523 (assertion rules), RFC 6749 §3.2 (token endpoint)
 */
export function parseConfig(text: string, source: string): BrokerConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throwProblems(
      source,
      doc.errors.map((e) => {
        const before = text.slice(0, e.pos[0]).split(/\r?\n/);
        const at = ` (line ${before.length}, column ${before.at(-1)!.length + 1})`;
        if (e.code === 'DUPLICATE_KEY') {
          const parents = keyPathAt(doc, e.pos[0]);
          const secretKeyed = SECRET_KEYED.find((rule) => parents && matchesPath(rule.path, parents));
          if (secretKeyed && parents)
            return `${source}: duplicate key in ${locate(parents)}${at}: each key may appear only once`;
          const key = /^["']?([^:"'{},\n]+?)["']?\s*:/.exec(text.slice(e.pos[0], e.pos[0] + 200))?.[1];
          const name = key ? ` "${key}"` : '';
          return `${source}: duplicate key${name}${at}: each profile and key may appear only once`;
        }
        return `${source}: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}${at}`;
      }),
    );
  }
  const forbidden = forbiddenKeys(doc, text, source);
  if (forbidden.length > 0) throwProblems(source, forbidden);
  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The yaml library ends an alias bomb with a ReferenceError ("Excessive alias count").
    if (!(err instanceof ReferenceError)) throw err;
    throwProblems(source, [
      /alias count/i.test(err.message)
        ? `${source}: too many aliases (more than ${MAX_ALIAS_COUNT} uses of "*name"); write the values out`
        : `${source}: ${oneLineText(err.message, 200)}`,
    ]);
  }
  if (input === null || input === undefined)
    throwProblems(source, [`${source}: the file is empty; it needs a "profiles:" mapping`]);
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) throwProblems(source, zodProblems(parsed.error, input));
  const raw = parsed.data;
  const findings: Findings = { problems: [], warnings: [] };
  const profiles: Record<string, Profile> = {};
  for (const [name, rawProfile] of Object.entries(raw.profiles)) {
    const profile = normaliseProfile(name, rawProfile, findings);
    if (profile) profiles[name] = profile;
  }
  const rest = topLevel(raw, findings);
  if (findings.problems.length > 0) throwProblems(source, findings.problems);
  return deepFreeze({ profiles, ...rest, source, warnings: findings.warnings });
}

/** Provider names accepted by `provider:`. */
export { PROVIDER_NAMES };
