/**
 * `GET /consent/{profile}?subject=` (DESIGN.md "HTTP API"): a 302 to the provider's
 * consent page with a signed `state` bound to a cookie. Opened by a person in a browser,
 * so it is one of the two routes without IAM auth.
 */
import { startInput, startResult, type ConsentHandlerDeps } from '../lib/consent/http.ts';
import { httpHandler, resolveLazy, type HttpHandler } from '../lib/http/stack.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';

/** Builds the `GET /consent/{profile}` handler. */
export function createConsentStartHandler(deps: ConsentHandlerDeps): HttpHandler {
  const { flow } = deps;
  return httpHandler({ logger: deps.logger, metrics: deps.metrics }, async (event) => {
    const started = await (await resolveLazy(flow)).start(startInput(event));
    return startResult(started);
  });
}

/** The Lambda entry point (serverless.yml `functions.consentStart`). */
export const handler: HttpHandler = createConsentStartHandler({
  flow: async () => (await getRuntime()).consent,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
