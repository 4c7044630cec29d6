/**
 * `GET /health` (DESIGN.md "HTTP API"): `{status: "ok", profiles}` once the
 * configuration is loaded.
 */
import { callerFromEvent } from '../lib/auth/identity.ts';
import { jsonResult } from '../lib/http/event.ts';
import {
  httpHandler,
  resolveLazy,
  type FlushableMetrics,
  type HttpHandler,
  type Lazy,
} from '../lib/http/stack.ts';
import { getRuntime, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Logger } from '../lib/types.ts';

/** What the health handler needs; `profiles` may be read lazily (cold start). */
export interface HealthHandlerDeps {
  readonly profiles: Lazy<readonly string[]>;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
}

/** Builds the `GET /health` handler. Like every route, it needs an authenticated caller. */
export function createHealthHandler(deps: HealthHandlerDeps): HttpHandler {
  const options = { logger: deps.logger, metrics: deps.metrics, authenticate: callerFromEvent };
  return httpHandler(options, async () => {
    const names = await resolveLazy(deps.profiles);
    return jsonResult(200, { status: 'ok', profiles: [...names].sort() });
  });
}

/** The Lambda entry point (serverless.yml `functions.health`). */
export const handler: HttpHandler = createHealthHandler({
  profiles: async () => Object.keys((await getRuntime()).config.profiles),
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
