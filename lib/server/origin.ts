/**
 * Which browsers the local server answers. Without API keys it serves any loopback
 * peer, and a web page the developer has open is one too: a page can post to
 * `http://127.0.0.1:8787/token` (cross-site request) or point a name it controls at
 * 127.0.0.1 (DNS rebinding). So every request must name this server in `Host` (a
 * loopback name or a configured one, with the server's port), and a request carrying an
 * `Origin` must come from this server's own origin. Browser-facing consent routes are
 * reached by navigation from the provider and are exempt from the `Origin` rule only.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6454#section-7 (Origin)
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-7.2 (Host)
 */
import { RequestError } from '../errors.ts';
import { oneLineText } from '../text.ts';

/** Loopback names every local server answers to. */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'] as const;

/** What the server knows about the names it is reached by. */
export interface HostNames {
  /** The address the server is bound to, as given (`127.0.0.1`, `::1`, `0.0.0.0`, a name). */
  readonly host: string;
  readonly port: number;
  /** URLs configured to reach this server (consent.baseUrl, profiles' redirectUri). */
  readonly urls?: readonly string[];
}

/** `name:port` in lower case; IPv6 literals in brackets. */
function authority(hostname: string, port: number): string {
  const name = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  return `${name.toLowerCase()}:${port}`;
}

/** The `name:port` of a URL, with the scheme's default port made explicit; undefined if unparsable. */
function urlAuthority(value: string): string | undefined {
  try {
    const url = new URL(value);
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return authority(url.hostname, port);
  } catch {
    return undefined;
  }
}

/** The set of `name:port` values the server accepts in `Host` and `Origin`. */
export function allowedAuthorities(names: HostNames): ReadonlySet<string> {
  const out = new Set<string>();
  for (const name of [...LOOPBACK_NAMES, names.host]) out.add(authority(name, names.port));
  for (const url of names.urls ?? []) {
    const a = urlAuthority(url);
    if (a !== undefined) out.add(a);
  }
  return out;
}

function refuse(message: string): RequestError {
  return new RequestError('ERR_FORBIDDEN', message);
}

/**
 * Checks `Host` and `Origin` of one request.
 *
 * @param allowed from {@link allowedAuthorities}
 * @param checkOrigin false for the browser-facing consent routes
 * @throws RequestError `ERR_FORBIDDEN` for a missing or foreign `Host`, or a foreign `Origin`
 */
export function checkBrowserHeaders(
  headers: Readonly<Record<string, string>>,
  allowed: ReadonlySet<string>,
  checkOrigin: boolean,
): void {
  const host = headers['host'];
  const first = [...allowed][0] ?? '127.0.0.1';
  if (host === undefined || host === '')
    throw refuse(`the request has no Host header; call the local server as http://${first}`);
  const hostAuthority = urlAuthority(`http://${host}`);
  if (hostAuthority === undefined || !allowed.has(hostAuthority))
    throw refuse(`Host "${oneLineText(host, 100)}" is not a name of this server; call it as http://${first}`);
  const origin = headers['origin'];
  if (!checkOrigin || origin === undefined) return;
  const originAuthority = origin === 'null' ? undefined : urlAuthority(origin);
  if (originAuthority === undefined || !allowed.has(originAuthority))
    throw refuse(
      `requests from the web page origin "${oneLineText(origin, 100)}" are refused; the local server serves programs, not pages`,
    );
}
