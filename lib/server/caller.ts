/**
 * How the local server identifies a caller, in the order the config allows:
 * SigV4 (`server.sigv4`), else an API key (`server.apiKeys`, stored as `sha256:<hex>`),
 * else `local` for a loopback peer when no keys are configured. The result goes into the
 * event's `requestContext.authorizer`, where the handlers' one identity module reads it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isBrokerError } from '../errors.ts';
import type { SigV4Request } from '../auth/sigv4-verify.ts';
import type { BrokerConfig } from '../config/types.ts';
import type { HttpRequestContext } from '../http/event.ts';
import type { SecretResolver } from '../secrets/types.ts';

/** The request parts identification looks at: what SigV4 signs, and the peer. Header names lower-case. */
export interface RawRequest extends SigV4Request {
  readonly remoteAddress: string | undefined;
}

/** The authorizer context, or why there is none (for the server's log, never the response). */
export type Identification =
  | { readonly authorizer: NonNullable<HttpRequestContext['authorizer']> }
  | { readonly authorizer: undefined; readonly reason: string; readonly refused?: string };

/** `sha256:<hex>` of an API key, the form `server.apiKeys` stores. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function presentedApiKey(headers: Readonly<Record<string, string>>): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '');
  return bearer?.[1] ?? headers['x-api-key'];
}

/** Name of the key whose hash matches, comparing every configured hash in constant time. */
function matchApiKey(apiKeys: Readonly<Record<string, string>>, key: string): string | undefined {
  const presented = Buffer.from(hashApiKey(key), 'utf8');
  let found: string | undefined;
  for (const [hash, name] of Object.entries(apiKeys)) {
    const expected = Buffer.from(hash.toLowerCase(), 'utf8');
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) found ??= name;
  }
  return found;
}

/** Options of {@link identifyCaller}. */
export interface IdentifyOptions {
  readonly server: BrokerConfig['server'];
  /** Resolves the secret references of `server.sigv4.credentials`. */
  readonly secrets: SecretResolver;
  readonly now?: (() => number) | undefined;
  /** The `name:port` values the server answers to; a SigV4 signature must be for one of them. */
  readonly hosts: ReadonlySet<string>;
}

/**
 * Identifies the caller of one local request. Never throws for a bad credential: the
 * handler then finds no identity and answers 403 `ERR_UNAUTHENTICATED` like any other.
 */
export async function identifyCaller(request: RawRequest, options: IdentifyOptions): Promise<Identification> {
  const { server } = options;
  if (server.sigv4) {
    const { region, credentials } = server.sigv4;
    const { verifySigV4 } = await import('../auth/sigv4-verify.ts');
    try {
      const caller = await verifySigV4(request, {
        region,
        service: 'execute-api',
        now: options.now,
        hosts: options.hosts,
        lookup: async (accessKeyId) => {
          const entry = Object.hasOwn(credentials, accessKeyId) ? credentials[accessKeyId] : undefined;
          if (!entry) return undefined;
          return { secret: await options.secrets.resolveText(entry.secret), caller: entry.caller };
        },
      });
      return { authorizer: { iam: { userArn: caller.id } } };
    } catch (err) {
      if (isBrokerError(err)) {
        // A request that tried to sign learns why its signature was refused; one that did not, only that none was found.
        const signed = /^AWS4-HMAC-SHA256 /.test(request.headers['authorization'] ?? '');
        return {
          authorizer: undefined,
          reason: `${err.code}: ${err.message}`,
          ...(signed && { refused: err.message }),
        };
      }
      throw err;
    }
  }
  const keys = server.apiKeys;
  if (Object.keys(keys).length > 0) {
    const key = presentedApiKey(request.headers);
    if (key === undefined)
      return { authorizer: undefined, reason: 'no API key (Authorization: Bearer or x-api-key)' };
    const name = matchApiKey(keys, key);
    if (name === undefined) return { authorizer: undefined, reason: 'unknown API key' };
    return { authorizer: { lambda: { callerId: name, callerKind: 'api-key' } } };
  }
  if (isLoopback(request.remoteAddress))
    return { authorizer: { lambda: { callerId: 'local', callerKind: 'local' } } };
  return { authorizer: undefined, reason: 'not a loopback peer and no server.apiKeys configured' };
}
