import { ConfigError } from '../errors.ts';

/** Levenshtein edit distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[t.length]!;
}

/** The closest known name to `unknown`, when it is close enough to be a typo. */
export function closest(unknown: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(unknown, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const limit = Math.max(2, Math.floor(unknown.length / 3));
  return bestDistance <= limit ? best : undefined;
}

/** `unknown key "tokenUrl"; did you mean "tokenUri"?` */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = closest(key, known);
  return guess
    ? `unknown key "${key}"; did you mean "${guess}"?`
    : `unknown key "${key}"; known keys: ${known.join(', ')}`;
}

/** Where a problem is: `profile "docusign": assertion.lifetime` or `cache.store`. */
export function locate(path: readonly PropertyKey[]): string {
  const parts = path.map(String);
  if (parts[0] === 'profiles' && parts.length >= 2) {
    const rest = parts.slice(2).join('.');
    return rest ? `profile "${parts[1]}": ${rest}` : `profile "${parts[1]}"`;
  }
  return parts.join('.');
}

/** One complete problem line: `profile "docusign": tokenUri: method must be GET or POST, got "PUT"`. */
export function problem(path: readonly PropertyKey[], message: string): string {
  const where = locate(path);
  return where ? `${where}: ${message}` : message;
}

/**
 * Throws one ConfigError listing every problem, one complete message per line.
 *
 * @throws ConfigError `ERR_CONFIG`
 */
export function throwProblems(source: string, problems: readonly string[]): never {
  throw new ConfigError('ERR_CONFIG', problems.join('\n'), { details: { source } });
}
