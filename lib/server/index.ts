/**
 * The local HTTP server (`token-broker serve`, `npm start`): DESIGN.md's HTTP API on
 * this machine, 127.0.0.1 by default. A request becomes an API Gateway v2 event for the
 * very handlers the Lambda functions run, except `POST /token`, which runs the token
 * handler's route functions directly (`createDirectTokenRoute`: same checks, errors, logs
 * and headers, no event per request); the caller is identified by SigV4, an API key or
 * the loopback rule (see `caller.ts`) and the profiles' `callers` policy applies.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { createConsentCallbackHandler } from '../../functions/consent-callback.ts';
import { createConsentStartHandler } from '../../functions/consent-start.ts';
import { createHealthHandler } from '../../functions/health.ts';
import { createTokenHandler } from '../../functions/token.ts';
import type { SharedTokenStore } from '../cache/types.ts';
import type { BrokerConfig } from '../config/types.ts';
import { setupBroker } from '../consent/setup.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import type { ConsentStore } from '../consent/store.ts';
import { DeepHealthCheck } from '../health/deep.ts';
import { errorResult } from '../http/error-response.ts';
import { jsonResult } from '../http/event.ts';
import { createDirectTokenRoute, TOKEN_ROUTE } from '../http/token-route.ts';
import { NO_STORE_HEADERS } from '../http/stack.ts';
import { createSecretResolver } from '../secrets/index.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { noMetrics, silentLogger, type Broker, type Clock, type Logger, type Metrics } from '../types.ts';
import { identifyCaller } from './caller.ts';
import {
  flattenHeaders,
  localContext,
  localRemainingMs,
  queryParameters,
  toEvent,
  writeResult,
} from './event.ts';
import { listenError } from './listen-error.ts';
import { allowedAuthorities, checkBrowserHeaders } from './origin.ts';
import { matchRoute, type Route } from './routes.ts';

/** Default port of `token-broker serve`. */
export const DEFAULT_PORT = 8787;
/** Default host: loopback only. */
export const DEFAULT_HOST = '127.0.0.1';
/**
 * Most request bytes the server reads. Larger than any handler's own limit (16 KiB for
 * `POST /token`), so oversized bodies reach the handler and get its 413; the rest is dropped.
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * Longest time {@link RunningServer.shutdown} lets requests in flight finish before it
 * closes their connections (a provider that hangs must not hold a stopping server).
 */
export const SHUTDOWN_GRACE_MS = 5_000;

/** A request target that is its own pathname: `/` and segments of unreserved characters, no dots. */
const PLAIN_PATH = /^\/(?:[A-Za-z0-9_~-]+\/?)*$/;

/** Options of {@link startServer}. */
export interface StartServerOptions {
  readonly config: BrokerConfig;
  /** The broker; default: one built from `config` with `secrets`, `fetch`, `clock`. */
  readonly broker?: Broker | undefined;
  /** Default {@link DEFAULT_PORT}; 0 picks a free port. */
  readonly port?: number | undefined;
  /** Default {@link DEFAULT_HOST}. */
  readonly host?: string | undefined;
  readonly logger?: Logger | undefined;
  readonly metrics?: Metrics | undefined;
  /** Resolves secret references; default a resolver over `env`, relative `file:` paths from the config's folder. */
  readonly secrets?: SecretResolver | undefined;
  /** Environment for `env:` references when `secrets` is not given. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined;
  readonly fetch?: typeof fetch | undefined;
  readonly clock?: Clock | undefined;
  /**
   * The shared token cache of the built broker; default per `cache.store`: none for
   * `memory`, the DynamoDB table for `dynamodb` (created when missing at `cache.endpoint`).
   */
  readonly sharedStore?: SharedTokenStore | undefined;
  /** Consent nonces and outcomes; default per `cache.store` (memory, or the DynamoDB table). */
  readonly consentStore?: ConsentStore | undefined;
  /**
   * `GET /health?deep=1`'s checks, remembered per key version; default: one built with
   * `secrets` and `clock` for this server.
   */
  readonly deepHealth?: DeepHealthCheck | undefined;
  /**
   * Caller patterns that may ask for `GET /health?deep=1` (as the deployed param
   * `healthDeepCallers`); default: every identified caller.
   */
  readonly healthDeepCallers?: readonly string[] | undefined;
  /** Routes beside `POST /token`, `GET /health` and the consent routes. */
  readonly routes?: readonly LocalRoute[] | undefined;
  /** The profiles' events of the built broker and consent flow (`serve --events`); default none. */
  readonly events?: ProfileEvents | undefined;
  /**
   * Whether a routed request also writes the `request` access line (method, route, status,
   * caller, ms) beside what its handler logs (the audit line of an issued token); default
   * true. Off, a request writes one line: its handler's, or the server's own for a request
   * refused or matching no route.
   */
  readonly accessLog?: boolean | undefined;
  /**
   * Whether `POST /token` runs its route directly ({@link createDirectTokenRoute}: the same
   * checks, errors, log lines and headers as the token handler's stack, without an API
   * Gateway event per request); default true. Off, it runs the Lambda handler on an event,
   * as every other route does.
   */
  readonly directToken?: boolean | undefined;
}

/** A route of the local server; `public` routes (browser-facing) skip caller identification. */
export interface LocalRoute extends Route {
  readonly public?: boolean;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly port: number;
  readonly broker: Broker;
  /** Stops accepting connections, ends open ones and resolves when closed. */
  close(): Promise<void>;
  /**
   * Stops accepting connections, lets requests in flight finish for at most `graceMs`
   * (default {@link SHUTDOWN_GRACE_MS}), then ends every connection. Resolves with the
   * number of requests cut off.
   */
  shutdown(graceMs?: number): Promise<number>;
}

function readBody(req: IncomingMessage, limit: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Inline listeners: a named closure costs a `__name` call per request under tsx (keepNames).
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve({ bytes: Buffer.concat(chunks).subarray(0, limit + 1), truncated: true });
      }
    });
    req.once('end', () => resolve({ bytes: Buffer.concat(chunks), truncated: false }));
    req.once('error', reject);
  });
}

/**
 * Starts the local server.
 * @throws ListenError `ERR_LISTEN` when the port cannot be bound (EADDRINUSE, EACCES, EADDRNOTAVAIL)
 */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const { config } = options;
  const logger = options.logger ?? silentLogger;
  const metrics = options.metrics ?? noMetrics;
  const clock = options.clock ?? Date.now;
  const secrets =
    options.secrets ?? createSecretResolver({ env: options.env ?? {}, cwd: dirname(config.source), clock });
  // Consent links point at this server unless consent.baseUrl or a redirectUri says otherwise.
  // Known once listening; read lazily when a consent URL is built.
  const self: { url?: string } = {};
  const built = options.broker
    ? undefined
    : await setupBroker({
        config,
        secrets,
        logger,
        metrics,
        clock,
        fetch: options.fetch ?? fetch,
        consentBaseUrl: () => self.url,
        sharedStore: options.sharedStore,
        ephemeralStateKey: true,
        store: options.consentStore,
        events: options.events,
      });
  const broker = options.broker ?? built!.broker;
  const consent = built?.consent;
  // The deployed health function's handler and checks: `?deep=1` answers the same here.
  const deepHealth = options.deepHealth ?? new DeepHealthCheck({ secrets, clock, logger });
  const tokenRoute: LocalRoute = {
    key: TOKEN_ROUTE,
    handler: createTokenHandler({ broker, logger, metrics }),
  };
  const direct =
    options.directToken === false ? undefined : createDirectTokenRoute({ broker, logger, metrics });
  const routes: readonly LocalRoute[] = Object.freeze([
    tokenRoute,
    {
      key: 'GET /health',
      handler: createHealthHandler({
        profiles: Object.keys(config.profiles),
        deep: () => deepHealth.run(config),
        deepCallers: options.healthDeepCallers,
        logger,
        metrics,
      }),
    },
    ...(consent
      ? [
          {
            key: 'GET /consent/callback',
            handler: createConsentCallbackHandler({ flow: consent, logger, metrics }),
            public: true,
          },
          {
            key: 'GET /consent/{profile}',
            handler: createConsentStartHandler({ flow: consent, logger, metrics }),
            public: true,
          },
        ]
      : []),
    ...(options.routes ?? []),
  ]);
  const routeList = routes.map((r) => r.key).join(', ');
  const accessLog = options.accessLog ?? true;
  // Known once listening (port 0 picks one).
  let allowed: ReadonlySet<string> = new Set();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = clock();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    // A plain path (no query, dot segment, escape or empty segment) is its own pathname:
    // the URL is parsed only for the others.
    const parsedUrl = PLAIN_PATH.test(rawUrl) ? undefined : new URL(rawUrl, 'http://localhost');
    const pathname = parsedUrl === undefined ? rawUrl : parsedUrl.pathname;
    const match = matchRoute(routes, method, pathname);
    const headers = flattenHeaders(req.headers);
    try {
      checkBrowserHeaders(headers, allowed, !(match?.route as LocalRoute | undefined)?.public);
    } catch (err) {
      // Not read, not answered by a handler: the request never reaches the broker.
      req.resume();
      res.setHeader('Connection', 'close');
      const result = errorResult(err);
      writeResult(res, { ...result, headers: { ...result.headers, ...NO_STORE_HEADERS } });
      logger.warn('request refused', {
        method,
        route: match?.route.key,
        path: match ? undefined : pathname,
        status: result.statusCode,
        code: 'ERR_FORBIDDEN',
        reason: err instanceof Error ? err.message : String(err),
        ms: clock() - started,
      });
      return;
    }
    if (!match) {
      req.resume();
      const message = `no route ${method} ${pathname}; routes: ${routeList}`;
      writeResult(res, jsonResult(404, { error: 'not_found', message }, { ...NO_STORE_HEADERS }));
      logger.info('request', { method, path: pathname, status: 404, ms: clock() - started });
      return;
    }
    const route = match.route as LocalRoute;
    const { bytes, truncated } = await readBody(req, MAX_REQUEST_BYTES);
    if (truncated) res.setHeader('Connection', 'close');
    let authorizer;
    if (!route.public) {
      const identified = await identifyCaller(
        {
          method,
          path: rawUrl.split('?')[0] ?? '/',
          query: parsedUrl === undefined ? {} : queryParameters(parsedUrl.searchParams),
          headers,
          body: bytes.toString('utf8'),
          remoteAddress: req.socket.remoteAddress,
        },
        { server: config.server, secrets, now: clock, hosts: allowed },
      );
      authorizer =
        identified.authorizer ??
        (identified.refused === undefined ? undefined : { refused: identified.refused });
      if (!identified.authorizer)
        logger.warn('caller not identified', { route: route.key, reason: identified.reason });
    }
    const requestId = randomUUID();
    const result =
      direct !== undefined && route === tokenRoute
        ? await direct({
            headers,
            body: bytes,
            authorizer,
            requestId,
            sourceIp: req.socket.remoteAddress ?? '',
            remainingMs: localRemainingMs(clock),
          })
        : await route.handler(
            toEvent({
              method,
              url: parsedUrl ?? new URL(rawUrl, 'http://localhost'),
              headers,
              body: bytes,
              routeKey: route.key,
              pathParameters: match.pathParameters,
              sourceIp: req.socket.remoteAddress ?? '',
              authorizer,
              requestId,
              now: clock(),
            }),
            localContext(requestId, clock),
          );
    writeResult(res, result);
    if (truncated) req.destroy();
    if (accessLog)
      logger.info('request', {
        method,
        route: route.key,
        status: result.statusCode,
        caller: authorizer?.lambda?.callerId ?? authorizer?.iam?.userArn ?? undefined,
        ms: clock() - started,
      });
  }

  let inFlight = 0;
  let drained: (() => void) | undefined;
  const server = createServer((req, res) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained?.();
    });
    handle(req, res).catch((err: unknown) => {
      logger.error('request failed outside the handler', {
        errorName: err instanceof Error ? err.name : typeof err,
      });
      if (!res.headersSent) writeResult(res, errorResult(err));
      else res.destroy();
    });
  });
  const host = options.host ?? DEFAULT_HOST;
  const listenPort = options.port ?? DEFAULT_PORT;
  await new Promise<void>((resolve, reject) => {
    const refuse = (err: unknown): void => reject(listenError(err, host, listenPort));
    server.once('error', refuse);
    server.listen(listenPort, host, () => {
      server.off('error', refuse);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  self.url = url;
  allowed = allowedAuthorities({
    host,
    port,
    urls: [
      ...(config.consent.baseUrl !== undefined ? [config.consent.baseUrl] : []),
      ...Object.values(config.profiles).flatMap((p) => (p.redirectUri !== undefined ? [p.redirectUri] : [])),
    ],
  });
  const closed = new Promise<void>((resolve) => server.once('close', resolve));
  return {
    url,
    port,
    broker,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
    shutdown: async (graceMs = SHUTDOWN_GRACE_MS) => {
      if (server.listening) server.close();
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => {
        drained = resolve;
        if (inFlight === 0) resolve();
      });
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, grace]);
      clearTimeout(timer);
      const cut = inFlight;
      server.closeAllConnections();
      await closed;
      return cut;
    },
  };
}
