/**
 * The one error middleware: every error a handler or middleware throws becomes the
 * response `error-response.ts` derives from the code table, and one log line.
 */
import type { MiddlewareObj, Request } from '@middy/core';
import { BrokerError } from '../errors.ts';
import type { LogFields, Logger } from '../types.ts';
import { callerFromEvent } from './identity.ts';
import { errorResult, mappingOf } from './error-response.ts';
import type { HttpEvent, HttpResult } from './event.ts';

/** The `profile` of a request body, when it is an object naming one. */
export function profileOfBody(body: unknown): string | undefined {
  return typeof body === 'object' &&
    body !== null &&
    typeof (body as { profile?: unknown }).profile === 'string'
    ? (body as { profile: string }).profile
    : undefined;
}

/** Fields that say who asked for what, read from the request without failing. */
function requestFields(request: Request<HttpEvent>): RequestFields {
  let caller: string | undefined;
  try {
    caller = callerFromEvent(request.event).id;
  } catch {
    caller = undefined;
  }
  return { caller, profile: profileOfBody(request.event.body), route: request.event.routeKey };
}

/** Who asked for what, as far as known when a request failed. */
export interface RequestFields {
  readonly caller: string | undefined;
  readonly profile: string | undefined;
  readonly route: string;
}

/**
 * The response of a failed request, and its one log line: 4xx at `warn` with the code and
 * message (a denial names the caller and profile), 5xx at `error`; an unexpected error is
 * logged by its class and message only, never with request data beyond caller and profile.
 */
export function failedRequest(logger: Logger, err: unknown, request: RequestFields): HttpResult {
  const mapping = mappingOf(err);
  const fields: LogFields = {
    ...request,
    status: mapping.status,
    code: err instanceof BrokerError ? err.code : 'ERR_INTERNAL',
    errorName: err instanceof Error ? err.name : typeof err,
    errorMessage: err instanceof Error ? err.message : undefined,
  };
  if (mapping.status >= 500) logger.error('request failed', fields);
  else if (mapping.status === 403) logger.warn('request denied', fields);
  else logger.warn('request rejected', fields);
  return errorResult(err);
}

/** The stack's error middleware: {@link failedRequest} for whatever a handler or middleware throws. */
export function errorHandler(logger: Logger): MiddlewareObj<HttpEvent> {
  return {
    onError: (request) => {
      // Set, not returned: returning would stop the remaining onError middlewares (headers).
      request.response = failedRequest(logger, request.error, requestFields(request));
    },
  };
}
