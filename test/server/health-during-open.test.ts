/**
 * A costly keystore opens off the event loop: while `serve` opens a PKCS#12 whose MAC takes
 * 5,000,000 PBKDF2 iterations (the per-derivation limit), /health keeps answering.
 */
import { pbkdf2 } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { startHarness, type Harness } from '../functions/harness.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

/** Asks /health every 5 ms until told to stop; answers with every latency (ms) and status. */
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
const latencies = [];
const statuses = [];
let stop = false;
parentPort.on('message', () => (stop = true));
(async () => {
  while (!stop) {
    const start = performance.now();
    const answer = await fetch(workerData);
    await answer.arrayBuffer();
    latencies.push(performance.now() - start);
    statuses.push(answer.status);
    if (latencies.length === 1) parentPort.postMessage('ready');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  parentPort.postMessage({ latencies, statuses });
})();
`;

let harness: Harness;
let server: RunningServer;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tb-costly-'));
  writeFileSync(join(dir, 'password'), 'changeit\n');
  harness = await startHarness({
    extraConfig: `  costly:
    issuer: costly-client
    subject: demo-user@example.com
    tokenUri: http://127.0.0.1:9/token
    certStore: file:${join(KEYSTORE_FIXTURES, 'lt-p12-costly.p12')}
    certStoreType: pkcs12
    certPassword: file:${join(dir, 'password')}
    audience: token-broker-demo
    callers: [local]
`,
  });
  server = await startServer({ config: harness.config, broker: harness.broker, port: 0 });
});
afterAll(async () => {
  await server?.close();
  await harness?.close();
});

/** Probes /health from a worker thread while `work` runs; the p99 latency and every status. */
async function probeWhile(
  work: () => Promise<unknown>,
): Promise<{ p99: number; count: number; statuses: number[] }> {
  // The prober has its own event loop (a worker thread), so a blocked server loop shows
  // as slow answers instead of as probes that were never sent.
  const prober = new Worker(PROBER, { eval: true, workerData: `${server.url}/health` });
  await once(prober, 'message'); // the first probe answered
  await work();
  prober.postMessage('stop');
  const [{ latencies, statuses }] = (await once(prober, 'message')) as [
    { latencies: number[]; statuses: number[] },
  ];
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p99: sorted[Math.ceil(sorted.length * 0.99) - 1]!, count: latencies.length, statuses };
}

describe('serve while a 5,000,000-iteration PKCS#12 opens', () => {
  it('answers /health within 50 ms (p99) for the whole opening', { timeout: 120_000 }, async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    // The same CPU work beside the server (5,000,000 PBKDF2 iterations on libuv's pool, as
    // the open does it): what this machine's load alone does to /health. On an idle machine
    // it is a few ms; on a shared one it can pass 50 ms, and that is not the server's doing.
    const machine = await probeWhile(
      () => new Promise((resolve) => pbkdf2('x', 'salt', 5_000_000, 32, 'sha256', resolve)),
    );
    let answer: Response | undefined;
    const during = await probeWhile(async () => {
      answer = await fetch(`${server.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ profile: 'costly' }),
      });
    });
    // The key opened and signed: the failure is the token endpoint's (nothing listens on port 9).
    expect(answer!.status).toBe(503);
    expect(((await answer!.json()) as { error: string }).error).toBe('upstream_unavailable');
    expect(new Set(during.statuses)).toEqual(new Set([200]));
    expect(during.count).toBeGreaterThan(20);
    // Held on the event loop, the open delays a probe by its whole run (seconds).
    expect(during.p99).toBeLessThan(Math.max(50, 1.5 * machine.p99));
  });
});
