import { isIPv4 } from 'node:net';
import type { TokenEndpoint } from './types.ts';

/** A URI problem, phrased to follow `<key>: `. */
export class UriProblem extends Error {
  override readonly name = 'UriProblem';
}

/** True for loopback hosts: `localhost`, 127.0.0.0/8 and `::1`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

/**
 * A URL as it may appear in a message: without user info (`user:password@`), which may
 * hold a secret, whatever the scheme and even when the text does not parse.
 */
export function shownUrl(value: string): string {
  return value.replace(/\/\/[^/?#\s]*@/g, '//');
}

/**
 * Parses an absolute http(s) URL that must use https unless its host is loopback.
 *
 * @throws UriProblem with a message naming what to fix.
 */
export function parseSecureUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UriProblem(
      `must be an absolute URL such as https://example.com/oauth/token, got "${shownUrl(value)}"`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UriProblem(`must be an https URL, got "${shownUrl(value)}"`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new UriProblem(
      `must use https (http only for loopback hosts such as 127.0.0.1), got "${shownUrl(value)}"`,
    );
  }
  if (url.username || url.password)
    throw new UriProblem('must not carry a user name or password; give secrets by reference');
  // RFC 6749 §3.1, §3.2: endpoint URIs MUST NOT include a fragment.
  if (url.hash || value.includes('#'))
    throw new UriProblem(`must not have a fragment ("#…"), got "${shownUrl(value)}"`);
  return url;
}

/**
 * Parses `tokenUri`: an optional `GET ` / `POST ` prefix (any case, any spacing) then the URL.
 * Without a prefix the request is a POST.
 *
 * @throws UriProblem
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.2
 */
export function parseTokenUri(value: string): TokenEndpoint {
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(value);
  let method: 'GET' | 'POST' = 'POST';
  let rest = value.trim();
  if (match) {
    const word = match[1]!.toUpperCase();
    if (word !== 'GET' && word !== 'POST') {
      throw new UriProblem(`method must be GET or POST, got "${match[1]}"`);
    }
    method = word;
    rest = match[2]!;
  } else if (/\s/.test(rest)) {
    throw new UriProblem(`write "[GET |POST ]<url>", got "${shownUrl(value)}"`);
  }
  parseSecureUrl(rest);
  return { method, url: rest };
}

/**
 * Checks a redirect URI: absolute, https (http for loopback), no fragment, and an explicit
 * port, as consent registrations compare it character for character.
 *
 * @throws UriProblem
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2
 */
export function checkRedirectUri(value: string): string {
  const trimmed = value.trim();
  parseSecureUrl(trimmed);
  // The URL parser drops a default port (":443"), so look at the text itself.
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(trimmed)?.[1] ?? '';
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (!/^(\[[^\]]+\]|[^:[\]]+):\d{1,5}$/.test(hostPort)) {
    throw new UriProblem(
      `must carry an explicit port, e.g. https://broker.example.com:443/consent/callback; got "${shownUrl(trimmed)}"`,
    );
  }
  return trimmed;
}
