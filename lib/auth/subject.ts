/**
 * What a subject may look like before any `subjects` pattern is tried. A subject names a
 * user at the provider and lands in the assertion's `sub`, in logs and on the consent
 * page: text that displays differently from what it is (bidi overrides, zero-width
 * characters), control characters, or whitespace at either end is refused outright.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3 (the `sub` claim)
 * @see https://www.unicode.org/reports/tr9/#Explicit_Directional_Formatting_Characters
 */
import { RequestError } from '../errors.ts';

/** Longest subject accepted, characters. */
export const MAX_SUBJECT_LENGTH = 256;

// Cc (C0, DEL, C1) and Cf (format: bidi controls, zero-width joiners, the BOM, tags).
const FORBIDDEN = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/**
 * Checks a subject asked for by a caller or a consent link.
 * @throws RequestError `ERR_INVALID_REQUEST` naming the problem (the subject is not repeated
 * when it holds characters that would garble the message)
 */
export function checkSubject(subject: string): void {
  if (subject.length > MAX_SUBJECT_LENGTH)
    throw invalid(`subject is longer than ${MAX_SUBJECT_LENGTH} characters`);
  const bad = FORBIDDEN.exec(subject);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw invalid(`subject holds the control or format character U+${code}`);
  }
  if (subject.trim() !== subject) throw invalid('subject starts or ends with whitespace');
}

function invalid(problem: string): RequestError {
  return new RequestError(
    'ERR_INVALID_REQUEST',
    `${problem}; send the subject exactly as the provider knows it`,
  );
}
