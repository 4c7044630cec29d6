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

// A compact JWS/JWT (three parts) or JWE (five): a JOSE header always starts `{"`, which
// base64url-encodes as `eyJ`. Also three long base64url runs joined by dots, whatever the
// header looks like, and a JOSE header cut short by a provider that truncates its text.
const JOSE_SHAPES = [
  /eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){1,4}/g,
  /[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g,
  /eyJ[A-Za-z0-9_-]{16,}/g,
];

/**
 * Provider text with credentials taken out: JWS-, JWT- and JWE-shaped strings, and
 * anything equal to one of `known` (the assertion just sent) or to one of its dot-separated
 * parts, become `[redacted]`. Done before any shortening, so a cut cannot hide a match.
 */
export function redactCredentials(text: string, known: readonly string[] = []): string {
  let out = text;
  const pieces = known.flatMap((value) => [value, ...value.split('.')]);
  for (const piece of new Set(pieces)) {
    if (piece.length >= MIN_KNOWN_PIECE) out = out.split(piece).join(REDACTED);
  }
  for (const shape of JOSE_SHAPES) out = out.replace(shape, REDACTED);
  return out;
}

/**
 * A provider's string as the broker repeats it to a caller or a log: credentials
 * redacted ({@link redactCredentials}), then {@link oneLineText}.
 */
export function providerText(text: string, max: number, known: readonly string[] = []): string {
  return oneLineText(redactCredentials(text, known), max);
}
