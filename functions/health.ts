/**
 * `GET /health` (DESIGN.md "HTTP API"): `{status: "ok", profiles}` once the
 * configuration is loaded; `?deep=1` also opens each profile's key material (or describes
 * its KMS key) and answers 503 `degraded` when one fails, without calling providers.
 */
import { callerFromEvent } from '../lib/auth/identity.ts';
import { deepHealth, type ProfileCheck } from '../lib/health/deep.ts';
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
  /** `?deep=1`: each profile's key material checked (lib/health/deep.ts). */
  readonly deep?: () => Promise<{ status: 'ok' | 'degraded'; checks: Record<string, ProfileCheck> }>;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
}

/** Builds the `GET /health` handler. Like every route, it needs an authenticated caller. */
export function createHealthHandler(deps: HealthHandlerDeps): HttpHandler {
  const options = { logger: deps.logger, metrics: deps.metrics, authenticate: callerFromEvent };
  return httpHandler(options, async (event) => {
    const names = await resolveLazy(deps.profiles);
    if (event.queryStringParameters?.['deep'] === '1' && deps.deep) {
      const { status, checks } = await deps.deep();
      return jsonResult(status === 'ok' ? 200 : 503, { status, profiles: [...names].sort(), checks });
    }
    return jsonResult(200, { status: 'ok', profiles: [...names].sort() });
  });
}

/** The Lambda entry point (serverless.yml `functions.health`). */
export const handler: HttpHandler = createHealthHandler({
  profiles: async () => Object.keys((await getRuntime()).config.profiles),
  deep: async () => {
    const { config, secrets } = await getRuntime();
    return deepHealth(config, { secrets });
  },
  logger: runtimeLogger,
  metrics: runtimeMetrics,
});
