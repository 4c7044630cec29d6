/**
 * The one error middleware: every error a handler or middleware throws becomes the
 * response `error-response.ts` derives from the code table, and one log line.
 */
import type { MiddlewareObj, Request } from '@middy/core';
import { BrokerError } from '../errors.ts';
import type { LogFields, Logger } from '../types.ts';
import { callerFromEvent } from './identity.ts';
import { errorResult, mappingOf } from './error-response.ts';
import type { HttpEvent } from './event.ts';

/** Fields that say who asked for what, read from the request without failing. */
function requestFields(request: Request<HttpEvent>): Record<string, string | undefined> {
  let caller: string | undefined;
  try {
    caller = callerFromEvent(request.event).id;
  } catch {
    caller = undefined;
  }
  const body: unknown = request.event.body;
  const profile =
    typeof body === 'object' && body !== null && typeof (body as { profile?: unknown }).profile === 'string'
      ? (body as { profile: string }).profile
      : undefined;
  return { caller, profile, route: request.event.routeKey };
}

/**
 * Logs the error and sets the response. 4xx at `warn` with the code and message (a
 * denial names the caller and profile), 5xx at `error`; an unexpected error is logged by
 * its class and message only, never with request data beyond caller and profile.
 */
export function errorHandler(logger: Logger): MiddlewareObj<HttpEvent> {
  return {
    onError: (request) => {
      const err = request.error;
      const mapping = mappingOf(err);
      const fields: LogFields = {
        ...requestFields(request),
        status: mapping.status,
        code: err instanceof BrokerError ? err.code : 'ERR_INTERNAL',
        errorName: err instanceof Error ? err.name : typeof err,
        errorMessage: err instanceof Error ? err.message : undefined,
      };
      if (mapping.status >= 500) logger.error('request failed', fields);
      else if (mapping.status === 403) logger.warn('request denied', fields);
      else logger.warn('request rejected', fields);
      // Set, not returned: returning would stop the remaining onError middlewares (headers).
      request.response = errorResult(err);
    },
  };
}
