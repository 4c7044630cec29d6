import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { createConsentEndpoints, readForm } from './consent-authorize.ts';
import {
  createFederation,
  FederationFailure,
  type FederationEndpoint,
  type FederationOptions,
  type FederationSeen,
  type IssuerFetchRecord,
} from './federation.ts';
import { OAuthFailure } from './oauth-failure.ts';
import { verifyAssertion } from './verify-assertion.ts';
import {
  issuedTokenType,
  readExchange,
  subjectToken,
  TOKEN_EXCHANGE,
  type DevTokenExchange,
  type TokenExchangeRecord,
} from './token-exchange.ts';

export type { DevTokenExchange, TokenExchangeRecord } from './token-exchange.ts';
export type {
  FederatedTrust,
  FederationEndpoint,
  FederationOptions,
  ImpersonableServiceAccount,
  IssuerFetchRecord,
} from './federation.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const MAX_BODY_BYTES = 64 * 1024;
const MAX_LOG = 10_000;

/** A client registered with the development authorization server. */
export interface DevClient {
  readonly clientId: string;
  /** The certificate (PEM) whose public key verifies the client's assertions. */
  readonly certificatePem?: string;
  /** Or the public key itself (PEM or KeyObject). */
  readonly publicKey?: string | KeyObject;
  /** Subjects the client may ask tokens for (exact); default any. */
  readonly subjects?: readonly string[];
  /** Scopes the client may ask for; default any. */
  readonly scopes?: readonly string[];
  /** Answer `consent_required` until {@link AuthorizationServer.grantConsent} (DocuSign's behaviour). */
  readonly requireConsent?: boolean;
  /** Headers each token request must carry (name case-insensitive, value exact). */
  readonly requiredHeaders?: Readonly<Record<string, string>>;
  /** Accept GET token requests (parameters in the query); default POST only. */
  readonly allowGet?: boolean;
  /** Redirect URIs of the consent step (`/authorize`), matched exactly. */
  readonly redirectUris?: readonly string[];
  /** Client secret for the `authorization_code` grant (`client_secret_basic`). */
  readonly clientSecret?: string;
  /** The `scope` string each request must carry exactly (a server that compares the string). */
  readonly exactScope?: string;
  /** Request parameters each token request must carry (value exact). */
  readonly requiredParams?: Readonly<Record<string, string>>;
  /** The JWS `typ` header each assertion must carry (e.g. `client-authentication+jwt`). */
  readonly typ?: string;
  /** What the token answer carries besides the token: extra fields, another token_type, a wider scope. */
  readonly answer?: {
    readonly fields?: Readonly<Record<string, unknown>>;
    readonly tokenType?: string;
    readonly scope?: string;
  };
  /** How RFC 8693 token exchanges of this client are answered; default: the JWT subject type, any target. */
  readonly tokenExchange?: DevTokenExchange;
}

/** Audience forms the server accepts: its token URL, its issuer URL, its `host:port`, or a literal. */
export type AudienceForm = 'token-url' | 'issuer' | 'host' | (string & {});

/** Options of {@link startAuthorizationServer}. */
export interface AuthorizationServerOptions {
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  readonly clients: readonly DevClient[];
  /** `expires_in` of issued tokens, seconds; default 3600. */
  readonly tokenTtl?: number;
  /** Longest accepted assertion lifetime, seconds; default 3600. */
  readonly maxAssertionLifetime?: number;
  /** Accepted `aud` values; default `['token-url']`. */
  readonly audience?: readonly AudienceForm[];
  /** The server's clock, epoch milliseconds (also its `Date` header); default `Date.now`. */
  readonly clock?: () => number;
  /** Each token issued is answered this much later, milliseconds (a provider's own latency); default 0. */
  readonly latencyMs?: number;
  /**
   * Trusts for external issuers (workload identity federation): Entra-style federated
   * client credentials at `/token`, Google-style `/v1/token` and `generateAccessToken`,
   * §2.1 assertions from a trusted issuer. See lib/dev/federation.ts.
   */
  readonly federation?: FederationOptions;
}

/** One token request as the server saw it. */
export interface RequestRecord {
  readonly method: string;
  readonly grant: string | undefined;
  readonly clientId: string | undefined;
  readonly subject: string | undefined;
  readonly status: number;
  readonly error: string | undefined;
  /** A federation endpoint's requests (`google-sts`, `google-generate-access-token`); absent for `/token`. */
  readonly endpoint?: FederationEndpoint;
  /** The issuer of the federated trust the request's token was checked against, if any. */
  readonly trust?: string;
}

/** A token the server issued. */
export interface IssuedRecord {
  readonly clientId: string;
  readonly subject: string;
  readonly scope: string | undefined;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** The `audience` and `resource` of a token exchange (RFC 8693 §2.1). */
  readonly audience?: readonly string[];
  readonly resource?: readonly string[];
}

/** A running development authorization server. */
export interface AuthorizationServer {
  /** Issuer URL, e.g. `http://127.0.0.1:53123`. */
  readonly url: string;
  /** Token endpoint, `${url}/token`. */
  readonly tokenUrl: string;
  /** Consent page (RFC 6749 §4.1 authorization endpoint), `${url}/authorize`. */
  readonly authorizeUrl: string;
  /** Token requests seen, oldest first (the last 10 000). */
  readonly requests: readonly RequestRecord[];
  /** Token exchanges (RFC 8693) the server answered with a token, oldest first (the last 10 000). */
  readonly exchanges: readonly TokenExchangeRecord[];
  /** Number of token requests seen since start or {@link AuthorizationServer.resetRequests}. */
  requestCount(): number;
  /** Requests seen (in {@link AuthorizationServer.requests}) by `endpoint`: `token` for `/token`. */
  requestsTo(endpoint: 'token' | FederationEndpoint): number;
  /** Discovery and JWKS fetches of federated issuers, oldest first. */
  readonly issuerFetches: readonly IssuerFetchRecord[];
  resetRequests(): void;
  /** Registers a client, replacing any with the same id (a rotated certificate, say). */
  setClient(client: DevClient): void;
  /** Records that `subject` consented to `clientId`. */
  grantConsent(clientId: string, subject: string): void;
  revokeConsent(clientId: string, subject: string): void;
  hasConsent(clientId: string, subject: string): boolean;
  /** What an access token stands for, when this server issued it and it has not expired. */
  introspect(accessToken: string): IssuedRecord | undefined;
  readonly server: Server;
  close(): Promise<void>;
}

interface Registered extends DevClient {
  readonly key: KeyObject;
}

function register(client: DevClient): Registered {
  let key: KeyObject;
  if (client.certificatePem) key = new X509Certificate(client.certificatePem).publicKey;
  else if (typeof client.publicKey === 'string') key = createPublicKey(client.publicKey);
  else if (client.publicKey) key = client.publicKey;
  else throw new TypeError(`client "${client.clientId}" needs certificatePem or publicKey`);
  return { ...client, key };
}

const consentKey = (clientId: string, subject: string): string => `${clientId}\u0000${subject}`;

/**
 * Starts a small, strict RFC 7523 authorization server on `node:http`, for development,
 * tests and the local demo. `POST /token` accepts the §2.1 JWT bearer grant and
 * `client_credentials` with a §2.2 `private_key_jwt` client assertion, and the RFC 8693
 * token exchange with such a JWT as `subject_token` (its type, `audience` and `resource`
 * checked and recorded; the answer carries `issued_token_type`). Each assertion is
 * verified with the registered certificate: signature and `alg`, `iss`, `aud`, `exp`
 * (lifetime at most `maxAssertionLifetime`), `nbf`/`iat` (60 s leeway), `jti` replay,
 * subject, scope, required headers and method. Answers are RFC 6749 §5.1 tokens (opaque,
 * random) or §5.2 errors.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2
 */
export async function startAuthorizationServer(
  options: AuthorizationServerOptions,
): Promise<AuthorizationServer> {
  const clock = options.clock ?? Date.now;
  const tokenTtl = options.tokenTtl ?? 3600;
  const maxLifetime = options.maxAssertionLifetime ?? 3600;
  const latencyMs = options.latencyMs ?? 0;
  const clients = new Map(options.clients.map((c) => [c.clientId, register(c)]));
  const consents = new Set<string>();
  const seenJti = new Map<string, number>();
  const issued = new Map<string, IssuedRecord>();
  const log: RequestRecord[] = [];
  const exchanges: TokenExchangeRecord[] = [];
  let count = 0;
  let url = '';
  let tokenUrl = '';
  const federation = options.federation && createFederation(options.federation, { clock, tokenTtl });
  const consentEndpoints = createConsentEndpoints({
    clients,
    grantConsent: (clientId, subject) => void consents.add(consentKey(clientId, subject)),
    clock,
    tokenTtl,
  });

  const audiences = (): string[] =>
    (options.audience ?? ['token-url']).map((form) =>
      form === 'token-url' ? tokenUrl : form === 'issuer' ? url : form === 'host' ? new URL(url).host : form,
    );

  const remember = (jti: string, exp: number): boolean => {
    const now = clock();
    for (const [id, until] of seenJti) if (until < now) seenJti.delete(id);
    if (seenJti.has(jti)) return false;
    seenJti.set(jti, exp * 1000 + 60_000);
    return true;
  };

  const assertionSubject = (jwt: string): JWTPayload => {
    try {
      return decodeJwt(jwt);
    } catch {
      throw new OAuthFailure('invalid_request', 'the assertion is not a JWT');
    }
  };

  async function token(
    method: string,
    headers: IncomingMessage['headers'],
    params: URLSearchParams,
    seen: FederationSeen,
  ): Promise<Record<string, unknown>> {
    const grant = params.get('grant_type') ?? undefined;
    seen.grant = grant;
    const federated = await federation?.token(grant, params, seen);
    if (federated) return federated;
    let jwt: string;
    let error: 'invalid_grant' | 'invalid_client' | 'invalid_request';
    if (grant === JWT_BEARER) {
      jwt = params.get('assertion') ?? '';
      error = 'invalid_grant';
      if (!jwt) throw new OAuthFailure('invalid_request', 'the assertion parameter is missing');
    } else if (grant === 'client_credentials') {
      if (params.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE)
        throw new OAuthFailure(
          'invalid_client',
          'client_assertion_type must be the RFC 7523 JWT bearer type',
        );
      jwt = params.get('client_assertion') ?? '';
      error = 'invalid_client';
      if (!jwt) throw new OAuthFailure('invalid_client', 'the client_assertion parameter is missing');
    } else if (grant === TOKEN_EXCHANGE) {
      jwt = subjectToken(params);
      // RFC 8693 §2.2.2: an invalid subject token is invalid_request.
      error = 'invalid_request';
    } else if (grant === 'authorization_code') {
      return consentEndpoints.redeem(headers, params, seen);
    } else {
      throw new OAuthFailure('unsupported_grant_type', `grant_type "${grant ?? ''}" is not supported`);
    }
    const unverified = assertionSubject(jwt);
    const client = typeof unverified.iss === 'string' ? clients.get(unverified.iss) : undefined;
    if (!client) throw new OAuthFailure(error, 'the assertion iss is not a registered client');
    seen.clientId = client.clientId;
    if (method === 'GET' && !client.allowGet)
      throw new OAuthFailure('invalid_request', 'the token endpoint accepts POST only');
    for (const [name, value] of Object.entries(client.requiredHeaders ?? {}))
      if (headers[name.toLowerCase()] !== value)
        throw new OAuthFailure('invalid_request', `the header "${name}" is missing or wrong`);
    const paramClient = params.get('client_id');
    if (paramClient !== null && paramClient !== client.clientId)
      throw new OAuthFailure('invalid_client', 'client_id does not match the assertion');
    for (const [name, value] of Object.entries(client.requiredParams ?? {}))
      if (params.get(name) !== value)
        throw new OAuthFailure('invalid_request', `the parameter "${name}" is missing or wrong`);
    if (client.typ !== undefined) {
      let typ: unknown;
      try {
        typ = decodeProtectedHeader(jwt).typ;
      } catch {
        typ = undefined;
      }
      if (typ !== client.typ)
        throw new OAuthFailure(error, `the assertion typ header must be "${client.typ}"`);
    }

    const payload = await verifyAssertion(jwt, {
      key: client.key,
      issuer: client.clientId,
      audiences: audiences(),
      maxLifetime,
      now: clock(),
      error,
    });
    if (!remember(`${client.clientId}\u0000${String(payload.jti)}`, payload.exp!))
      throw new OAuthFailure(error, 'the assertion jti was already used');
    const subject = payload.sub;
    if (typeof subject !== 'string' || subject === '')
      throw new OAuthFailure(error, 'the assertion has no sub');
    seen.subject = subject;
    if (grant === 'client_credentials') {
      if (subject !== client.clientId)
        throw new OAuthFailure(error, 'the client assertion sub must equal iss');
    } else if (client.subjects && !client.subjects.includes(subject)) {
      throw new OAuthFailure('invalid_grant', `subject "${subject}" is not allowed for this client`);
    }
    const claimScope = typeof payload['scope'] === 'string' ? payload['scope'] : undefined;
    const scope = params.get('scope') ?? claimScope;
    if (client.exactScope !== undefined && scope !== client.exactScope)
      throw new OAuthFailure('invalid_scope', `scope must be exactly "${client.exactScope}"`);
    const scopes = scope ? scope.split(' ').filter(Boolean) : [];
    const refused = client.scopes ? scopes.filter((s) => !client.scopes!.includes(s)) : [];
    if (refused.length > 0)
      throw new OAuthFailure('invalid_scope', `scope not allowed: ${refused.join(' ')}`);
    if (client.requireConsent && grant === JWT_BEARER && !consents.has(consentKey(client.clientId, subject)))
      throw new OAuthFailure('consent_required', `the user has not consented to client ${client.clientId}`);

    const exchange =
      grant === TOKEN_EXCHANGE
        ? readExchange(params, client.tokenExchange, { clientId: client.clientId, subject, scope })
        : undefined;

    const accessToken = randomBytes(32).toString('base64url');
    const granted = client.answer?.scope ?? (scopes.length > 0 ? scopes.join(' ') : undefined);
    if (issued.size >= MAX_LOG) issued.delete(issued.keys().next().value!);
    issued.set(accessToken, {
      clientId: client.clientId,
      subject,
      scope: granted,
      expiresAt: clock() + tokenTtl * 1000,
      ...(exchange && { audience: exchange.audience, resource: exchange.resource }),
    });
    const body: Record<string, unknown> = {
      ...client.answer?.fields,
      access_token: accessToken,
      token_type: client.answer?.tokenType ?? 'Bearer',
      expires_in: tokenTtl,
    };
    if (granted) body['scope'] = granted;
    if (exchange) {
      if (exchanges.length >= MAX_LOG) exchanges.shift();
      exchanges.push(exchange);
      const type = issuedTokenType(exchange, client.tokenExchange);
      if (type !== undefined) body['issued_token_type'] = type;
    }
    return body;
  }

  function send(
    res: ServerResponse,
    status: number,
    body: unknown,
    extra: Record<string, string> = {},
  ): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json;charset=UTF-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      pragma: 'no-cache',
      date: new Date(clock()).toUTCString(),
      ...extra,
    });
    res.end(text);
  }

  const record = (entry: RequestRecord): void => {
    if (log.length >= MAX_LOG) log.shift();
    log.push(entry);
  };

  /** A federation endpoint's request: answered in its provider's shape, recorded like `/token`'s. */
  async function handleFederation(endpoint: FederationEndpoint, req: IncomingMessage, res: ServerResponse) {
    const seen: FederationSeen = {};
    const method = req.method ?? 'GET';
    count += 1;
    let status = 500;
    let error: string | undefined = 'server_error';
    try {
      const answer = await federation!.answer(endpoint, req, new URL(req.url ?? '/', url).pathname, seen);
      status = answer.status;
      const body = answer.body as { error?: string | { status?: string } };
      error = typeof body.error === 'string' ? body.error : body.error?.status;
      if (status === 200 && latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      send(res, status, answer.body);
    } catch {
      send(res, 500, { error: 'server_error', error_description: 'unexpected server error' });
    } finally {
      record({
        method,
        grant: seen.grant,
        clientId: seen.clientId,
        subject: seen.subject,
        status,
        error,
        endpoint,
        ...(seen.trust !== undefined && { trust: seen.trust }),
      });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', url);
    if (target.pathname === '/authorize') return consentEndpoints.handle(req, res, target);
    const federationEndpoint = federation?.endpoint(target.pathname);
    if (federationEndpoint) return handleFederation(federationEndpoint, req, res);
    if (target.pathname !== '/token') return send(res, 404, { error: 'not_found' });
    const method = req.method ?? 'GET';
    const seen: FederationSeen = {};
    let status = 200;
    let errorCode: string | undefined;
    count += 1;
    try {
      let params: URLSearchParams;
      if (method === 'POST') {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/x-www-form-urlencoded')
          throw new OAuthFailure('invalid_request', 'the body must be application/x-www-form-urlencoded');
        params = await readForm(req, MAX_BODY_BYTES, 'the request body is too large');
      } else if (method === 'GET') {
        params = target.searchParams;
      } else {
        throw new OAuthFailure('invalid_request', 'the token endpoint accepts POST only', 405);
      }
      const answer = await token(method, req.headers, params, seen);
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      send(res, 200, answer);
    } catch (err) {
      const failure =
        err instanceof OAuthFailure ? err : new OAuthFailure('server_error', 'unexpected server error', 500);
      status = failure.status;
      errorCode = failure.error;
      const extra: Record<string, string> = status === 405 ? { allow: 'POST' } : {};
      const fields = failure instanceof FederationFailure ? failure.fields : {};
      send(res, status, { error: failure.error, error_description: failure.message, ...fields }, extra);
    } finally {
      record({
        method,
        grant: seen.grant,
        clientId: seen.clientId,
        subject: seen.subject,
        status,
        error: errorCode,
        ...(seen.trust !== undefined && { trust: seen.trust }),
      });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  tokenUrl = `${url}/token`;

  return {
    url,
    tokenUrl,
    authorizeUrl: `${url}/authorize`,
    get requests() {
      return log;
    },
    get exchanges() {
      return exchanges;
    },
    requestCount: () => count,
    requestsTo: (endpoint) => log.filter((r) => (r.endpoint ?? 'token') === endpoint).length,
    get issuerFetches() {
      return federation?.fetches ?? [];
    },
    resetRequests: () => {
      count = 0;
      log.length = 0;
      exchanges.length = 0;
    },
    setClient: (client) => void clients.set(client.clientId, register(client)),
    grantConsent: (clientId, subject) => void consents.add(consentKey(clientId, subject)),
    revokeConsent: (clientId, subject) => void consents.delete(consentKey(clientId, subject)),
    hasConsent: (clientId, subject) => consents.has(consentKey(clientId, subject)),
    introspect: (accessToken) => {
      const record = issued.get(accessToken);
      return record && record.expiresAt > clock() ? record : federation?.introspect(accessToken);
    },
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
