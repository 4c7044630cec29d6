import { ListenError } from '../errors.ts';

/** A host as written in a URL authority: IPv6 in brackets. */
function shownHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Turns the error `server.listen` emits into one line that says what to do:
 * `port 8787 on 127.0.0.1 is in use; pass --port`. The host and port are the caller's own
 * flags, so the line carries nothing secret.
 *
 * @returns ListenError `ERR_LISTEN`, with the original error as `cause`.
 * @see https://nodejs.org/api/net.html#serverlisten
 */
export function listenError(err: unknown, host: string, port: number, flag = '--port'): ListenError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const where = `port ${port} on ${shownHost(host)}`;
  const message =
    code === 'EADDRINUSE'
      ? `${where} is in use; pass ${flag} with a free port (or ${flag} 0 for any)`
      : code === 'EACCES'
        ? `${where} needs privileges this process lacks; pass ${flag} 1024 or above`
        : code === 'EADDRNOTAVAIL'
          ? `${shownHost(host)} is not an address of this machine; pass --host with one (default 127.0.0.1)`
          : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
            ? `host ${host} does not resolve; pass --host with an address of this machine`
            : `cannot listen on ${where} (${code ?? 'unknown error'})`;
  return new ListenError('ERR_LISTEN', message, { cause: err });
}
