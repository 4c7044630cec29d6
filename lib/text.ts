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

/**
 * Shortest known credential looked for at all, in characters: a shorter value (a
 * `response_type: code` header, say) would match ordinary words.
 */
const MIN_KNOWN_CHARS = 6;
/**
 * Shortest fragment of a known credential (or of one of its encoded forms) redacted on its
 * own, in characters: what is left of a value a provider cut short, or one line of a value
 * it wrapped. Twelve characters of a secret are rarely ordinary text, and what remains
 * unredacted of a cut value is at most eleven characters at its end.
 */
const MIN_FRAGMENT = 12;
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
 * The base64 text that appears wherever `value`'s bytes are base64-encoded inside a longer
 * text (Basic credentials `id:secret`, say): the encoding at each of the three byte
 * alignments, without the characters that also depend on the bytes around it.
 */
function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift += 1) {
    const total = shift + bytes.length;
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const head = [0, 2, 3][shift]!;
    const tail = [0, 3, 2][total % 3]!;
    const core = encoded.slice(head, encoded.length - tail);
    cores.push(core, core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return cores;
}

/**
 * Every form in which a provider may repeat `value`: as sent, percent-encoded (upper- and
 * lower-case hex), form-encoded (`+` for a space) and base64 or base64url at any alignment.
 */
function knownForms(value: string): string[] {
  const percent = encodeURIComponent(value);
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  const lower = (text: string) => text.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase());
  return [value, percent, lower(percent), form, lower(form), ...base64Cores(value)];
}

/** Fragments of known credentials, by length, found in a text by {@link knownRanges}. */
interface KnownFragments {
  /** Fragment lengths present, longest first. */
  readonly lengths: readonly number[];
  readonly fragments: ReadonlySet<string>;
}

// Built once per `known` array (one provider answer cleans several fields with the same list).
const fragmentsOf = new WeakMap<readonly string[], KnownFragments>();

function knownFragments(known: readonly string[]): KnownFragments {
  let built = fragmentsOf.get(known);
  if (built) return built;
  const fragments = new Set<string>();
  const lengths = new Set<number>();
  for (const value of known) {
    if (value.length < MIN_KNOWN_CHARS) continue;
    for (const form of knownForms(value)) {
      if (form.length < MIN_KNOWN_CHARS) continue;
      // A short value is looked for whole; a longer one by every fragment of MIN_FRAGMENT characters.
      const size = Math.min(form.length, MIN_FRAGMENT);
      lengths.add(size);
      for (let i = 0; i + size <= form.length; i += 1) fragments.add(form.slice(i, i + size));
    }
  }
  built = { lengths: [...lengths].sort((a, b) => b - a), fragments };
  fragmentsOf.set(known, built);
  return built;
}

// Whitespace and control characters a provider's formatting may put inside a value (a wrap).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORMATTING = /[\s\u0000-\u001f\u007f]/;

/**
 * The spans of `text` (start, end) made of fragments of known credentials. The text is read
 * without its whitespace and control characters, so a value wrapped over several lines is
 * one span, the line breaks inside it included. Linear in the length of `text` (one set
 * lookup per position and fragment length).
 */
function knownRanges(text: string, known: KnownFragments): [number, number][] {
  const at: number[] = [];
  let compact = '';
  for (let i = 0; i < text.length; i += 1) {
    if (FORMATTING.test(text[i]!)) continue;
    at.push(i);
    compact += text[i];
  }
  const ranges: [number, number][] = [];
  let coveredTo = -1;
  for (let i = 0; i < compact.length; i += 1) {
    for (const size of known.lengths) {
      if (i + size > compact.length || !known.fragments.has(compact.slice(i, i + size))) continue;
      const end = i + size;
      const last = ranges.at(-1);
      if (last && i <= coveredTo) last[1] = at[end - 1]! + 1;
      else ranges.push([at[i]!, at[end - 1]! + 1]);
      coveredTo = Math.max(coveredTo, end);
      break;
    }
  }
  return ranges;
}

/**
 * Provider text with credentials taken out: JWS-, JWT- and JWE-shaped strings, and every
 * fragment of at least {@link MIN_FRAGMENT} characters (a shorter value: the whole value) of
 * one of `known` (the assertion and DPoP proof sent, resolved secret `params` and `headers`
 * values, a client secret), as sent, percent- or form-encoded or base64-encoded, become
 * `[redacted]`, so a value the provider cut short, wrapped over lines or repeated encoded
 * is caught too. Done before any shortening, so a cut cannot hide a match; linear in the
 * length of `text`.
 */
export function redactCredentials(text: string, known: readonly string[] = []): string {
  let out = text;
  if (known.length > 0 && text.length >= MIN_KNOWN_CHARS) {
    const parts: string[] = [];
    let from = 0;
    for (const [start, end] of knownRanges(text, knownFragments(known))) {
      parts.push(text.slice(from, start), REDACTED);
      from = end;
    }
    out = parts.length === 0 ? text : parts.join('') + text.slice(from);
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
