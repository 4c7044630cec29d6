/**
 * Names the network failure behind an AWS SDK error (or any Node socket error), so a
 * message can say "connection refused by 127.0.0.1:4566" instead of "(Error)".
 */

interface SocketErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly hostname?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
}

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ETIMEDOUT: 'connection timed out',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'DNS lookup failed, try again',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed',
};

/** SDK and smithy names of an attempt that ran out of time. */
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

function where(shape: SocketErrorShape): string {
  if (typeof shape.hostname === 'string') return ` for ${shape.hostname}`;
  if (typeof shape.address === 'string') {
    return typeof shape.port === 'number' ? ` by ${shape.address}:${shape.port}` : ` by ${shape.address}`;
  }
  return '';
}

/**
 * A short description of the network cause of `error` (its own `code`, its `cause` chain,
 * or the first of an `AggregateError`'s errors), or undefined when it is not a network
 * failure. Never includes a request or response body.
 */
export function networkCause(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 4) return undefined;
  const shape = error as SocketErrorShape;
  // An attempt the SDK timed out also carries ETIMEDOUT, though its connection stood.
  if (typeof shape.name === 'string' && TIMEOUT_NAMES.has(shape.name)) return 'no answer in time';
  if (typeof shape.code === 'string' && DESCRIPTIONS[shape.code] !== undefined) {
    return `${DESCRIPTIONS[shape.code]}${where(shape)}`;
  }
  if (Array.isArray(shape.errors)) {
    for (const inner of shape.errors) {
      const found = networkCause(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return networkCause(shape.cause, depth + 1);
}
