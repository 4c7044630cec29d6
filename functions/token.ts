/**
 * `POST /token` (DESIGN.md "HTTP API"): the caller, the validated body, one
 * `broker.issue()`, the token as JSON with `Cache-Control: no-store`.
 */
import { callerFromEvent } from '../lib/http/identity.ts';
import {
  httpHandler,
  resolveLazy,
  type FlushableMetrics,
  type HttpHandler,
  type Lazy,
} from '../lib/http/stack.ts';
import { parseTokenRequest } from '../lib/http/token-request.ts';
import { answerTokenRequest } from '../lib/http/token-route.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Broker, Logger } from '../lib/types.ts';

/** What the token handler needs; `broker` may be built lazily (cold start). */
export interface TokenHandlerDeps {
  readonly broker: Lazy<Broker>;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
  readonly maxBodyBytes?: number | undefined;
}

/**
 * Builds the `POST /token` handler.
 * @throws nothing itself; errors become responses through the stack's error handler
 */
export function createTokenHandler(deps: TokenHandlerDeps): HttpHandler {
  return httpHandler(
    {
      logger: deps.logger,
      metrics: deps.metrics,
      authenticate: callerFromEvent,
      body: parseTokenRequest,
      maxBodyBytes: deps.maxBodyBytes,
    },
    async (event) =>
      answerTokenRequest(
        await resolveLazy(deps.broker),
        event.body,
        callerFromEvent(event),
        event.headers?.['dpop'],
        {
          requestId: event.requestContext?.requestId,
          sourceIp: event.requestContext?.http?.sourceIp,
        },
      ),
  );
}

/** The Lambda entry point (serverless.yml `functions.token`). */
export const handler: HttpHandler = createTokenHandler({
  broker: async () => (await getRuntime()).broker,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
