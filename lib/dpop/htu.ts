/**
 * The `htu` comparison of RFC 9449 §4.3: the proof's URI and the token endpoint are
 * compared without query and fragment, after syntax-based and scheme-based normalisation
 * (RFC 3986 §6.2.2, §6.2.3).
 */

/** RFC 3986 §2.3 unreserved characters: a percent-encoding of one of them means the character. */
const UNRESERVED = /[A-Za-z0-9\-._~]/;

function percentNormalised(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const char = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
}

/**
 * The normalised form of an http(s) URI for the `htu` comparison: scheme and host in lower
 * case, the default port dropped, an empty path as `/`, dot segments removed,
 * percent-encodings in upper case and those of unreserved characters decoded, query,
 * fragment and user information dropped. Undefined when `uri` is not an absolute http(s) URI.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc3986#section-6.2.2
 */
export function normalisedHtu(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  // WHATWG parsing already lower-cases scheme and host, drops the default port, turns an
  // empty path into "/" and removes dot segments.
  return `${url.protocol}//${url.host}${percentNormalised(url.pathname)}`;
}

/** True when the proof's `htu` names the same resource as `endpoint` (RFC 9449 §4.3 item 9). */
export function htuMatches(htu: string, endpoint: string): boolean {
  const expected = normalisedHtu(endpoint);
  return expected !== undefined && normalisedHtu(htu) === expected;
}
