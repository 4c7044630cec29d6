/**
 * Turns a node:http request into an API Gateway HTTP API (payload 2.0) event, and a
 * handler's result back into a response, so the local server runs the Lambda handlers
 * unchanged.
 *
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html#http-api-develop-integrations-lambda.proxy-format
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpRequestContext, HttpResult } from '../http/event.ts';

/** Lambda's deadline for the local handlers, like the deployed function's timeout. */
export const LOCAL_TIMEOUT_MS = 28_000;

/** Header names lower-case, repeated headers joined with `,` (as API Gateway does). */
export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}

/** Query parameters decoded, repeated ones joined with `,` (as API Gateway does). */
export function queryParameters(search: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of search) out[key] = key in out ? `${out[key]},${value}` : value;
  return out;
}

/** What {@link toEvent} needs. */
export interface EventParts {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly routeKey: string;
  readonly pathParameters: Record<string, string> | undefined;
  readonly sourceIp: string;
  readonly authorizer: HttpRequestContext['authorizer'];
  /** The request's id; default a new UUID. */
  readonly requestId?: string | undefined;
  readonly now: number;
}

/** A payload 2.0 event for the request. The body is passed base64-encoded, byte for byte. */
export function toEvent(parts: EventParts): HttpEvent {
  const query = queryParameters(parts.url.searchParams);
  const cookies = parts.headers['cookie']?.split(/;\s*/).filter((c) => c !== '');
  const requestContext: HttpRequestContext = {
    accountId: 'local',
    apiId: 'local',
    domainName: parts.headers['host'] ?? 'localhost',
    domainPrefix: (parts.headers['host'] ?? 'localhost').split('.')[0] ?? 'localhost',
    http: {
      method: parts.method,
      path: parts.url.pathname,
      protocol: 'HTTP/1.1',
      sourceIp: parts.sourceIp,
      userAgent: parts.headers['user-agent'] ?? '',
    },
    requestId: parts.requestId ?? randomUUID(),
    routeKey: parts.routeKey,
    stage: '$default',
    time: new Date(parts.now).toUTCString(),
    timeEpoch: parts.now,
    ...(parts.authorizer ? { authorizer: parts.authorizer } : {}),
  };
  return {
    version: '2.0',
    routeKey: parts.routeKey,
    rawPath: parts.url.pathname,
    rawQueryString: parts.url.search.replace(/^\?/, ''),
    headers: parts.headers,
    requestContext,
    isBase64Encoded: parts.body.length > 0,
    ...(cookies && cookies.length > 0 ? { cookies } : {}),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(parts.pathParameters ? { pathParameters: parts.pathParameters } : {}),
    ...(parts.body.length > 0 ? { body: parts.body.toString('base64') } : {}),
  };
}

/** Milliseconds left of a local invocation started now: {@link LOCAL_TIMEOUT_MS} at first. */
export function localRemainingMs(clock: () => number): () => number {
  const deadline = clock() + LOCAL_TIMEOUT_MS;
  return () => Math.max(0, deadline - clock());
}

/** A Lambda context for one local invocation. */
export function localContext(requestId: string, clock: () => number): Context {
  const getRemainingTimeInMillis = localRemainingMs(clock);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'token-broker-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:token-broker-local',
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: 'local',
    logStreamName: 'local',
    getRemainingTimeInMillis,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Writes a handler's result (headers, cookies, base64 bodies) to the node response. A text
 * body goes as a string, which node:http sends in one write with the head; a Buffer would
 * take a second chunk (writev) for the same bytes.
 */
export function writeResult(res: ServerResponse, result: HttpResult): void {
  // Object.assign rather than a spread: a spread of a response's dozen headers builds a
  // slow dictionary-mode object.
  const headers: Record<string, string | string[]> = Object.assign({}, result.headers);
  if (result.cookies && result.cookies.length > 0) headers['Set-Cookie'] = result.cookies;
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
  headers['Content-Length'] = String(
    typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length,
  );
  res.writeHead(result.statusCode, headers);
  res.end(body, 'utf8');
}
