/**
 * Granted scopes the request did not ask for. RFC 6749 §3.3 lets the server grant a
 * scope other than the one asked for, and says it then returns `scope`; a wider grant is
 * worth knowing about (a token that can do more than its caller needs). Order and
 * duplicates do not matter; an absent `scope` means "as asked" (§5.1), and so does any
 * grant when nothing was asked (the server's default).
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1
 */
export function grantedBeyond(asked: readonly string[], granted: string | undefined): string[] {
  // Nothing asked for: the server's default scope is what was asked.
  if (granted === undefined || asked.length === 0) return [];
  const wanted = new Set(asked);
  return [...new Set(granted.split(/\s+/).filter(Boolean))].filter((scope) => !wanted.has(scope));
}
