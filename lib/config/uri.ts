import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { TokenEndpoint } from './types.ts';

/** A URI problem, phrased to follow `<key>: `. */
export class UriProblem extends Error {
  override readonly name = 'UriProblem';
}

/**
 * True for loopback hosts, literally: `localhost`, 127.0.0.0/8 and `::1`. Not `*.localhost`:
 * glibc resolves those names through DNS, so they may leave the machine.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

/** Address ranges a profile reaches only with `allowPrivateNetwork: true`, most specific first. */
const GUARDED_RANGES: readonly { kind: string; range: string; family: 'ipv4' | 'ipv6'; bits: number }[] = [
  { kind: 'cloud metadata', range: '169.254.169.254', family: 'ipv4', bits: 32 },
  { kind: 'cloud metadata', range: 'fd00:ec2::254', family: 'ipv6', bits: 128 },
  { kind: 'link-local', range: '169.254.0.0', family: 'ipv4', bits: 16 },
  { kind: 'link-local', range: 'fe80::', family: 'ipv6', bits: 10 },
  { kind: 'private', range: '10.0.0.0', family: 'ipv4', bits: 8 },
  { kind: 'private', range: '172.16.0.0', family: 'ipv4', bits: 12 },
  { kind: 'private', range: '192.168.0.0', family: 'ipv4', bits: 16 },
  { kind: 'private', range: '100.64.0.0', family: 'ipv4', bits: 10 },
  { kind: 'private', range: 'fc00::', family: 'ipv6', bits: 7 },
  // "This network" and the unspecified address reach the machine itself on Linux.
  { kind: 'unspecified', range: '0.0.0.0', family: 'ipv4', bits: 8 },
  { kind: 'unspecified', range: '::', family: 'ipv6', bits: 128 },
];
const GUARDS = GUARDED_RANGES.map((r) => {
  const list = new BlockList();
  if (r.bits === (r.family === 'ipv4' ? 32 : 128)) list.addAddress(r.range, r.family);
  else list.addSubnet(r.range, r.bits, r.family);
  return { ...r, list };
});
/** Names of cloud metadata services (GCP; AWS's instance-data name). */
const METADATA_NAMES = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
]);

/**
 * Why a URL's host is refused without `allowPrivateNetwork: true`: a literal address in a
 * link-local, cloud metadata, private or unspecified range (IPv4-mapped IPv6 included), or
 * a metadata service's name. DNS names are not resolved here.
 *
 * @returns the problem, phrased to follow `<key>: `, or undefined.
 */
export function privateNetworkProblem(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const fix = 'set allowPrivateNetwork: true on the profile only if the endpoint really lives there';
  if (METADATA_NAMES.has(host.replace(/\.$/, ''))) return `${host} is a cloud metadata service; ${fix}`;
  const family = isIPv4(host) ? 'ipv4' : isIPv6(host) ? 'ipv6' : undefined;
  if (family === undefined) return undefined;
  const hit = GUARDS.find((g) => g.list.check(host, family));
  if (hit === undefined) return undefined;
  const range = hit.kind === 'cloud metadata' ? '' : ` (${hit.range}/${hit.bits})`;
  const article = /^[aeiou]/.test(hit.kind) ? 'an' : 'a';
  return `${host} is ${article} ${hit.kind} address${range}; ${fix}`;
}

/** Query parameter names that may carry a secret (compared lower-case, without "_", "-", "."). */
const SECRET_PARAM =
  /secret|passw|pwd|apikey|accesskey|privatekey|token|assertion|credential|signature|^sig$|^key$|^code$|^auth/;

/**
 * Why a token URI's query is refused: a parameter whose name may carry a secret. Such a
 * value would sit in logs, in `check`'s output and in the default audience.
 *
 * @returns the problem, naming the parameter (never its value), or undefined.
 */
export function tokenQueryProblem(url: URL): string | undefined {
  for (const name of new Set(url.searchParams.keys())) {
    if (!SECRET_PARAM.test(name.toLowerCase().replace(/[-_.]/g, ''))) continue;
    // A name that is no plain identifier may be the secret itself (`?token_3f9a…`).
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(name))
      return 'a query parameter may carry a secret; remove it from the URI and give it in params (params: { name: env:VAR })';
    return `the query parameter "${name}" may carry a secret; remove it from the URI and give it in params (params: { ${name}: env:VAR })`;
  }
  return undefined;
}

/**
 * A URL as it may appear in a message: without user info (`user:password@`) and without
 * query values, either of which may hold a secret, whatever the scheme and even when the
 * text does not parse.
 */
export function shownUrl(value: string): string {
  return value.replace(/\/\/[^/?#\s]*@/g, '//').replace(/([?&][^=&#\s]*=)[^&#\s]*/g, '$1…');
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
  const query = tokenQueryProblem(parseSecureUrl(rest));
  if (query !== undefined) throw new UriProblem(query);
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
