/**
 * `*` wildcard patterns, as used by profiles' `callers` and `subjects`.
 *
 * `*` matches any run of characters (including none, and including `/` and `:`); every
 * other character matches itself exactly and case-sensitively (IAM ARNs are
 * case-sensitive). There is no other metacharacter: `?`, `.`, `[`… are literal.
 */

const cache = new Map<string, RegExp>();
const MAX_CACHED = 1000;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Compiles a `*` pattern to an anchored regular expression. */
export function compilePattern(pattern: string): RegExp {
  let compiled = cache.get(pattern);
  if (!compiled) {
    compiled = new RegExp(`^${pattern.split('*').map(escape).join('.*')}$`, 's');
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(pattern, compiled);
  }
  return compiled;
}

/** Whether `value` matches `pattern` (`*` wildcard, otherwise exact and case-sensitive). */
export function matchesPattern(pattern: string, value: string): boolean {
  return pattern.includes('*') ? compilePattern(pattern).test(value) : pattern === value;
}

/** Whether `value` matches any of `patterns`; false for an empty list. */
export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((pattern) => matchesPattern(pattern, value));
}
