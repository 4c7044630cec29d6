import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { CERT_FILE, closedPort, configFrom, dynamoCacheYaml, refreshProfile, sealEnv } from './support.ts';

const CALLS_PER_SERVER = 10;

let dynamo: Dynalite;
let authorization: AuthorizationServer;
let servers: RunningServer[] = [];

beforeAll(async () => {
  dynamo = await startDynalite();
  authorization = await startAuthorizationServer({
    clients: [{ clientId: 'app', certificatePem: await readFile(CERT_FILE, 'utf8') }],
  });
});
afterEach(async () => {
  await Promise.all(servers.map((server) => server.close()));
  servers = [];
});
afterAll(async () => {
  await authorization.close();
  await dynamo.close();
});

async function serve(config: BrokerConfig, env: Record<string, string>): Promise<RunningServer> {
  const server = await startServer({ config, env, port: 0 });
  servers.push(server);
  return server;
}

async function tokens(server: RunningServer, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const response = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ profile: 'demo' }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    }),
  );
}

describe('local server with cache.store dynamodb at a local endpoint (dynalite)', () => {
  it('shares one token between two servers on one table: one upstream request', async () => {
    const env = sealEnv();
    const config = configFrom(
      refreshProfile('demo', authorization.tokenUrl),
      dynamoCacheYaml(dynamo.endpoint, `serve-${randomUUID()}`),
    );
    const [one, two] = [await serve(config, env), await serve(config, env)];
    authorization.resetRequests();

    const issued = (await Promise.all([tokens(one, CALLS_PER_SERVER), tokens(two, CALLS_PER_SERVER)])).flat();

    expect(authorization.requestCount()).toBe(1);
    expect(new Set(issued).size).toBe(1);
  });

  it('keeps each server to its own memory cache with store: memory (one request each)', async () => {
    const config = configFrom(refreshProfile('demo', authorization.tokenUrl));
    const [one, two] = [await serve(config, {}), await serve(config, {})];
    authorization.resetRequests();

    const issued = (await Promise.all([tokens(one, CALLS_PER_SERVER), tokens(two, CALLS_PER_SERVER)])).flat();

    expect(authorization.requestCount()).toBe(2);
    expect(new Set(issued).size).toBe(2);
  });

  it('refuses to start when the local endpoint cannot be reached, saying what to do', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const config = configFrom(
      refreshProfile('demo', authorization.tokenUrl),
      dynamoCacheYaml(endpoint, 'serve-down'),
    );

    await expect(startServer({ config, env: sealEnv(), port: 0 })).rejects.toMatchObject({
      code: 'ERR_CACHE_UNAVAILABLE',
      message: `cannot prepare table "serve-down" at cache.endpoint ${endpoint} (connection refused by 127.0.0.1:${new URL(endpoint).port}): start the local DynamoDB or remove cache.endpoint`,
    });
  });

  it('refuses to start without cache.sealKey', async () => {
    const config = configFrom(
      refreshProfile('demo', authorization.tokenUrl),
      `cache:\n  store: dynamodb\n  table: serve-nokey\n  endpoint: ${dynamo.endpoint}\n`,
    );

    await expect(startServer({ config, env: {}, port: 0 })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message: 'cache.sealKey is required with store: dynamodb',
    });
  });
});
