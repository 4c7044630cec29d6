/**
 * `POST /token` (DESIGN.md "HTTP API"): the caller, the validated body, one
 * `broker.issue()`, the token as JSON with `Cache-Control: no-store`.
 */
import { callerFromEvent } from '../lib/http/identity.ts';
import { jsonResult } from '../lib/http/event.ts';
import {
  httpHandler,
  resolveLazy,
  type FlushableMetrics,
  type HttpHandler,
  type Lazy,
} from '../lib/http/stack.ts';
import { parseTokenRequest } from '../lib/http/token-request.ts';
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
    async (event) => {
      const caller = callerFromEvent(event);
      const { profile, subject, scope, minTtl, rejected } = event.body;
      const broker = await resolveLazy(deps.broker);
      const dpop = event.headers?.['dpop'];
      const issued = await broker.issue({
        profile,
        subject,
        scope,
        minTtl,
        rejected,
        dpop,
        caller,
        origin: {
          requestId: event.requestContext?.requestId,
          sourceIp: event.requestContext?.http?.sourceIp,
        },
      });
      return jsonResult(
        200,
        {
          // Provider fields first: the broker's own fields always win a name clash.
          ...issued.fields,
          access_token: issued.access_token,
          token_type: issued.token_type,
          expires_in: issued.expires_in,
          expires_at: issued.expires_at,
          ...(issued.scope === undefined ? {} : { scope: issued.scope }),
        },
        // RFC 9449 §8.2: the provider's next nonce, for the caller's next proof.
        issued.dpopNonce === undefined ? {} : { 'DPoP-Nonce': issued.dpopNonce },
      );
    },
  );
}

/** The Lambda entry point (serverless.yml `functions.token`). */
export const handler: HttpHandler = createTokenHandler({
  broker: async () => (await getRuntime()).broker,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
