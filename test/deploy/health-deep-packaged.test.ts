/**
 * One health API, packaged: `GET /health?deep=1` answered by the packaged health function
 * (its zip, on the runtime's Node, as Lambda runs it) and by `serve` from source give the
 * same status and checks for a profile whose key opens and one whose password is wrong.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { apiEvent } from '../functions/events.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { packageService, ROOT, type PackagedService } from '../support/osls-package.ts';
import { startPackagedStack, type PackagedStack } from '../support/packaged-stack.ts';

const PROFILES = 'test/fixtures/deploy/health-profiles.yaml';
const OPS = 'arn:aws:iam::123456789012:role/ops';
const TITLE = 'GET /health?deep=1 on the packaged function and on serve';

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    let packaged: PackagedService;
    let stack: PackagedStack;
    let server: RunningServer;

    beforeAll(async () => {
      packaged = await packageService(PROFILES, 'ci');
      expect(packaged.code, packaged.output).toBe(0);
      stack = await startPackagedStack({
        packaged,
        stackName: 'token-broker-ci',
      });
      server = await startServer({
        config: await loadConfig({ path: join(ROOT, PROFILES), env: {}, cwd: ROOT }),
        port: 0,
      });
    }, 180_000);

    afterAll(async () => {
      await server?.close();
      await stack?.close();
      packaged?.remove();
    });

    it('answers the same status and checks on both hosts', async () => {
      const health = await stack.container('health', { TOKEN_BROKER_HEALTH_DEEP_CALLERS: OPS });
      const event = apiEvent({
        routeKey: 'GET /health',
        userArn: 'arn:aws:sts::123456789012:assumed-role/ops/alice',
      });
      const result = await health.invoke({ ...event, queryStringParameters: { deep: '1' } });
      if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
      const deployed = result.payload as { statusCode: number; body: string };

      const local = await fetch(`${server.url}/health?deep=1`);
      const expected = {
        status: 'degraded',
        profiles: ['good', 'wrong'],
        checks: { good: { ok: true }, wrong: { ok: false, code: 'ERR_KEYSTORE_PASSWORD' } },
      };
      expect(deployed.statusCode, deployed.body).toBe(503);
      expect(JSON.parse(deployed.body)).toEqual(expected);
      expect(local.status).toBe(deployed.statusCode);
      expect(await local.json()).toEqual(expected);
    }, 60_000);
  });
