/**
 * Text from outside (a provider's `error_description`, say) made fit for a one-line
 * message or log field: runs of control characters become one space, and it is bounded.
 */
export function oneLineText(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** What replaces a credential found in provider text. */
export const REDACTED = '[redacted]';

/** Shortest piece of a known credential that is looked for on its own (a JWS signature, say). */
const MIN_KNOWN_PIECE = 16;
/** Shortest dot-separated part counted when telling a JWS/JWE from a dotted name. */
const MIN_JOSE_PART = 10;

// Runs of base64url characters and dots: found in one linear pass (no nested quantifiers,
// so a 64 KiB run cannot make the matcher backtrack), then judged one by one.
const TOKEN_RUN = /[A-Za-z0-9_.-]+/g;

/**
 * Whether a run of base64url text and dots looks like a compact JWS/JWT (three parts) or
 * JWE (five): a JOSE header always starts `{"`, which base64url-encodes as `eyJ`, so a run
 * starting so is one (even cut short by a provider that truncates its text); otherwise
 * three long parts joined by dots are.
 */
function isJoseShaped(run: string): boolean {
  if (/^eyJ[A-Za-z0-9_-]{4,}\./.test(run) || /^eyJ[A-Za-z0-9_-]{16,}/.test(run)) return true;
  return run.split('.').filter((part) => part.length >= MIN_JOSE_PART).length >= 3;
}

/**
 * Provider text with credentials taken out: JWS-, JWT- and JWE-shaped strings, and
 * anything equal to one of `known` (the assertion just sent) or to one of its dot-separated
 * parts, become `[redacted]`. Done before any shortening, so a cut cannot hide a match;
 * linear in the length of `text`.
 */
export function redactCredentials(text: string, known: readonly string[] = []): string {
  let out = text;
  const pieces = known.flatMap((value) => [value, ...value.split('.')]);
  // Longest first, so a whole assertion is replaced before its parts are looked for.
  for (const piece of [...new Set(pieces)].sort((a, b) => b.length - a.length)) {
    if (piece.length >= MIN_KNOWN_PIECE) out = out.split(piece).join(REDACTED);
  }
  return out.replace(TOKEN_RUN, (run) => (isJoseShaped(run) ? REDACTED : run));
}

/**
 * A provider's string as the broker repeats it to a caller or a log: credentials
 * redacted ({@link redactCredentials}), then {@link oneLineText}.
 */
export function providerText(text: string, max: number, known: readonly string[] = []): string {
  return oneLineText(redactCredentials(text, known), max);
}
