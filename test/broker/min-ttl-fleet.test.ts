/**
 * Issue 26, item 3, across instances: two brokers sharing one store, a provider whose tokens
 * cannot meet the requests' `minTtl`, or that answers no usable life. However the requests
 * are spread, no request causes more than one upstream request.
 */
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { EXAMPLES } from '../functions/harness.ts';

let expiresIn: unknown = 3600;
let issued = 0;
const answer = (_req: unknown, res: ServerResponse) => {
  issued += 1;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ access_token: `fleet-${issued}`, token_type: 'Bearer', expires_in: expiresIn }));
};

let upstream: FaultServer;
beforeAll(async () => {
  upstream = await startFaultServer([answer]);
});
afterAll(() => upstream.close());

function fleet(): [TokenBroker, TokenBroker] {
  const config = parseConfig(
    `
profiles:
  p:
    issuer: demo-client
    subject: demo-user@example.com
    audience: token-broker-demo
    tokenUri: ${upstream.url}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo
    callers: [local]
`,
    join(EXAMPLES, 'fleet.yaml'),
  );
  const shared = memorySharedStore(Date.now);
  const make = () =>
    createBroker({
      config,
      secrets: createSecretResolver({ env: {}, cwd: EXAMPLES }),
      sharedStore: shared,
      exchange: { sleep: async () => undefined },
    });
  return [make(), make()];
}

const request = { profile: 'p', caller: { kind: 'local', id: 'local' } } as const;

describe('two instances sharing a store', () => {
  it('tokens of 3600 s, minTtl 3600: 20 requests alternating between them, 1 upstream call', async () => {
    expiresIn = 3600;
    const [a, b] = fleet();
    const before = upstream.count();
    const tokens: string[] = [];
    for (let i = 0; i < 20; i += 1)
      tokens.push((await (i % 2 === 0 ? a : b).issue({ ...request, minTtl: 3600 })).access_token);
    expect(upstream.count() - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
  });

  it('tokens of 3600 s, minTtl 3600: 20 concurrent requests over both, 1 upstream call', async () => {
    expiresIn = 3600;
    const [a, b] = fleet();
    const before = upstream.count();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).issue({ ...request, minTtl: 3600 })),
    );
    expect(upstream.count() - before).toBe(1);
    expect(new Set(answers.map((t) => t.access_token)).size).toBe(1);
  });

  it('expires_in 0: 20 requests alternating, 20 upstream calls, each refused', async () => {
    expiresIn = 0;
    const [a, b] = fleet();
    const before = upstream.count();
    const codes: string[] = [];
    for (let i = 0; i < 20; i += 1)
      codes.push(
        await (i % 2 === 0 ? a : b).issue(request).then(
          () => 'ok',
          (err: { code: string }) => err.code,
        ),
      );
    expect(upstream.count() - before).toBe(20);
    expect(new Set(codes)).toEqual(new Set(['ERR_UPSTREAM_INVALID_RESPONSE']));
  });
});
