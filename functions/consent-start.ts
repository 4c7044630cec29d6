/**
 * `GET /consent/{profile}?subject=` (DESIGN.md "HTTP API"): a 302 to the provider's
 * consent page with a signed `state` bound to a cookie. Opened by a person in a browser,
 * so it is one of the two routes without IAM auth.
 */
import { startInput, startResult } from '../lib/consent/http.ts';
import type { ConsentFlow } from '../lib/consent/flow.ts';
import { httpHandler, type FlushableMetrics, type HttpHandler } from '../lib/http/stack.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Logger } from '../lib/types.ts';

/** What the handler needs; `flow` may be built lazily (cold start). */
export interface ConsentStartHandlerDeps {
  readonly flow: ConsentFlow | (() => Promise<ConsentFlow>);
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
}

/** Builds the `GET /consent/{profile}` handler. */
export function createConsentStartHandler(deps: ConsentStartHandlerDeps): HttpHandler {
  const { flow } = deps;
  return httpHandler({ logger: deps.logger, metrics: deps.metrics }, async (event) => {
    const started = await (typeof flow === 'function' ? await flow() : flow).start(startInput(event));
    return startResult(started);
  });
}

/** The Lambda entry point (serverless.yml `functions.consentStart`). */
export const handler: HttpHandler = createConsentStartHandler({
  flow: async () => (await getRuntime()).consent,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
