/**
 * `GET /health` (DESIGN.md "HTTP API"): `{status: "ok", profiles}` once the
 * configuration is loaded; `?deep=1` also checks each profile's key material (or describes
 * its KMS key) and answers 503 `degraded` when one fails, without calling providers. The
 * deep check is remembered per key version (lib/health/deep.ts) and only the callers the
 * `healthDeepCallers` param names may ask for it (lib/health/callers.ts).
 */
import { callerFromEvent } from '../lib/http/identity.ts';
import { authorizeDeepHealth } from '../lib/health/callers.ts';
import { DeepHealthCheck, type DeepHealth } from '../lib/health/deep.ts';
import { jsonResult } from '../lib/http/event.ts';
import {
  httpHandler,
  resolveLazy,
  type FlushableMetrics,
  type HttpHandler,
  type Lazy,
} from '../lib/http/stack.ts';
import { getRuntime, runtimeHealthDeepCallers, runtimeLogger, runtimeMetrics } from '../lib/runtime.ts';
import type { Logger } from '../lib/types.ts';

/** What the health handler needs; `profiles` may be read lazily (cold start). */
export interface HealthHandlerDeps {
  readonly profiles: Lazy<readonly string[]>;
  /** `?deep=1`: each profile's key material checked (lib/health/deep.ts). */
  readonly deep?: () => Promise<DeepHealth>;
  /**
   * Caller patterns that may ask for `?deep=1` (empty: nobody); undefined: every
   * authenticated caller (the local server).
   */
  readonly deepCallers?: Lazy<readonly string[]> | undefined;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
}

/** Builds the `GET /health` handler. Like every route, it needs an authenticated caller. */
export function createHealthHandler(deps: HealthHandlerDeps): HttpHandler {
  const options = { logger: deps.logger, metrics: deps.metrics, authenticate: callerFromEvent };
  return httpHandler(options, async (event) => {
    if (event.queryStringParameters?.['deep'] === '1' && deps.deep) {
      const callers = deps.deepCallers === undefined ? undefined : await resolveLazy(deps.deepCallers);
      authorizeDeepHealth(callerFromEvent(event), callers);
      const names = await resolveLazy(deps.profiles);
      const { status, checks } = await deps.deep();
      return jsonResult(status === 'ok' ? 200 : 503, { status, profiles: [...names].sort(), checks });
    }
    const names = await resolveLazy(deps.profiles);
    return jsonResult(200, { status: 'ok', profiles: [...names].sort() });
  });
}

/** One per container: checks are remembered between invocations. */
let deepCheck: DeepHealthCheck | undefined;

/** The Lambda entry point (serverless.yml `functions.health`). */
export const handler: HttpHandler = createHealthHandler({
  profiles: async () => Object.keys((await getRuntime()).config.profiles),
  deep: async () => {
    const { config, secrets } = await getRuntime();
    deepCheck ??= new DeepHealthCheck({ secrets, logger: runtimeLogger });
    return deepCheck.run(config);
  },
  deepCallers: async () => runtimeHealthDeepCallers(),
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
