/**
 * `GET /consent/callback?code&state` (DESIGN.md "HTTP API", the path of the profiles'
 * RedirectURI): completes the consent and answers a small HTML page saying what happened.
 * Opened by a person in a browser, so it is one of the two routes without IAM auth.
 */
import { callbackInput, outcomeResult, type ConsentHandlerDeps } from '../lib/consent/http.ts';
import { httpHandler, resolveLazy, TIMEOUT_EARLY_MS, type HttpHandler } from '../lib/http/stack.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';

/** Builds the `GET /consent/callback` handler. */
export function createConsentCallbackHandler(deps: ConsentHandlerDeps): HttpHandler {
  const { flow } = deps;
  // The page carries its own Content-Security-Policy, which the stack's default does not replace.
  return httpHandler({ logger: deps.logger, metrics: deps.metrics }, async (event, context) => {
    // Answer (and finish the provider calls) before the stack's early answer at the deadline.
    const deadlineAt = Date.now() + context.getRemainingTimeInMillis() - TIMEOUT_EARLY_MS;
    const outcome = await (await resolveLazy(flow)).complete({ ...callbackInput(event), deadlineAt });
    return outcomeResult(outcome, event.rawPath);
  });
}

/** The Lambda entry point (serverless.yml `functions.consentCallback`). */
export const handler: HttpHandler = createConsentCallbackHandler({
  flow: async () => (await getRuntime()).consent,
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
