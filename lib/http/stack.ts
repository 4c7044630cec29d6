/**
 * The one middleware stack every HTTP handler runs in (functions/*): header
 * normalizer, security headers, `Cache-Control: no-store`, the error handler and,
 * for routes with a body, the size-limited JSON parser and a validator.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { Context } from 'aws-lambda';
import { UpstreamError } from '../errors.ts';
import type { FlushableMetrics, Logger } from '../types.ts';
import { errorHandler } from './error-handler.ts';
import type { HttpEvent, HttpResult } from './event.ts';
import { jsonBody, MAX_BODY_BYTES } from './json-body.ts';
import { SECURITY_HEADERS } from './security-headers.ts';

export type { FlushableMetrics } from '../types.ts';

/** A dependency given as is, or built on first use (a Lambda entry point's cold start). */
export type Lazy<T extends object> = T | (() => Promise<T>);

/** The value of a {@link Lazy} dependency. */
export function resolveLazy<T extends object>(dep: Lazy<T>): T | Promise<T> {
  return typeof dep === 'function' ? dep() : dep;
}

/** Headers on every response: tokens and errors about them are never cached anywhere. */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
};

/** Milliseconds before the Lambda deadline at which a request is answered 503 instead. */
export const TIMEOUT_EARLY_MS = 1000;

/** Options of {@link httpHandler}. */
export interface HttpStackOptions<B> {
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
  /** Validates the parsed JSON body; when set, the route requires a JSON body. */
  readonly body?: ((value: unknown) => B) | undefined;
  /** Body size limit in bytes; default {@link MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number | undefined;
  /**
   * Checks who is calling before the body is read, so an unidentified caller learns
   * nothing about the body's rules (throws the 403 error).
   */
  readonly authenticate?: ((event: HttpEvent) => unknown) | undefined;
}

/** The event a handler sees: `body` already parsed and validated when the route has one. */
export type HandlerEvent<B> = Omit<HttpEvent, 'body'> & { body: B };

/** A handler wrapped in the stack, callable as a Lambda handler. */
export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/**
 * `result` with the headers every response of the stack carries: {@link SECURITY_HEADERS}
 * first (a response's own header of the same name wins: the consent page sets its CSP),
 * then the response's, then {@link NO_STORE_HEADERS}, which always win.
 */
export function withStackHeaders(result: HttpResult): HttpResult {
  // Object.assign rather than a spread: a spread of this many keys builds a slow
  // dictionary-mode object (about 5x the cost, on every response).
  return { ...result, headers: Object.assign({}, SECURITY_HEADERS, result.headers, NO_STORE_HEADERS) };
}

function stackHeaders(): MiddlewareObj<HttpEvent, HttpResult> {
  const add = (request: { response: HttpResult | null | undefined }): void => {
    if (request.response) request.response = withStackHeaders(request.response);
  };
  return { after: add, onError: add };
}

/** The error of a request still running {@link TIMEOUT_EARLY_MS} before its deadline. */
export function earlyTimeoutError(): UpstreamError {
  return new UpstreamError('ERR_UPSTREAM_TIMEOUT', 'the token request did not finish in time; retry');
}

function flushMetrics(metrics: FlushableMetrics | undefined): MiddlewareObj<HttpEvent> {
  // A block body: a middleware returning a value would end the request with it (middy's early response).
  const flush = (): void => {
    metrics?.flush?.();
  };
  return { after: flush, onError: flush };
}

function validate<B>(parse: (value: unknown) => B): MiddlewareObj<HttpEvent> {
  return {
    before: (request) => {
      (request.event as unknown as HandlerEvent<B>).body = parse(request.event.body);
    },
  };
}

/**
 * Wraps `handler` in the shared stack.
 * @throws TypeError when the options are invalid
 */
export function httpHandler<B = undefined>(
  options: HttpStackOptions<B>,
  handler: (event: HandlerEvent<B>, context: Context) => Promise<HttpResult>,
): HttpHandler {
  const stack = middy<HttpEvent, HttpResult>({
    timeoutEarlyInMillis: TIMEOUT_EARLY_MS,
    timeoutEarlyResponse: () => {
      throw earlyTimeoutError();
    },
  })
    .use(httpHeaderNormalizer())
    .use(stackHeaders())
    .use(flushMetrics(options.metrics))
    .use(errorHandler(options.logger));
  const authenticate = options.authenticate;
  if (authenticate) stack.use({ before: (request) => void authenticate(request.event) });
  if (options.body) {
    stack.use(jsonBody({ maxBytes: options.maxBodyBytes ?? MAX_BODY_BYTES })).use(validate(options.body));
  }
  const wrapped = stack.handler((event, context) => handler(event as unknown as HandlerEvent<B>, context));
  return (event, context) => wrapped(event, context) as Promise<HttpResult>;
}
