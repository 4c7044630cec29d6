/**
 * `*` wildcard patterns, as used by profiles' `callers` and `subjects`.
 *
 * `*` matches any run of characters except `@` (including none, and including `/` and
 * `:`), so `*@example.com` admits `alice@example.com` but not
 * `evil@attacker.test@example.com`; every other character matches itself exactly and
 * case-sensitively (IAM ARNs are case-sensitive). There is no other metacharacter: `?`,
 * `.`, `[`… are literal, and there is no `**`.
 */

/** The one character a `*` never takes: the separator of a mail-style subject's domain. */
const STAR_STOPS_AT = '@';

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Compiles a `*` pattern to an anchored regular expression, for a caller that needs one.
 * Matching itself uses {@link matchesPattern}, which cannot backtrack.
 */
export function compilePattern(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map(escape).join(`[^${STAR_STOPS_AT}]*`)}$`, 's');
}

/**
 * Whether `value` matches `pattern` (`*` wildcard, otherwise exact and case-sensitive).
 * A direct wildcard walk, not the compiled expression: a backtracking `.*` per star costs
 * time that grows with the subject length to the power of the stars on a near miss (a
 * 512-character subject against `arn:*:*:*:role/*-api` took 0.4 s); this walk is at most
 * pattern length x value length.
 */
export function matchesPattern(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  // The last star seen, and where in `value` its run currently ends.
  let star = -1;
  let starEnd = 0;
  while (v < value.length) {
    if (pattern[p] === '*') {
      star = p++;
      starEnd = v;
    } else if (p < pattern.length && pattern[p] === value[v]) {
      p++;
      v++;
    } else if (star >= 0 && value[starEnd] !== STAR_STOPS_AT) {
      // Let the last star take one more character and try again after it. It cannot take
      // an `@`; an earlier star could not either, so no other way through remains.
      p = star + 1;
      v = ++starEnd;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether `value` matches any of `patterns`; false for an empty list. */
export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((pattern) => matchesPattern(pattern, value));
}
