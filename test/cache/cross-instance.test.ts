import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hang, numberedTokens, startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { forkInstance, startCrossInstanceEnvironment, waitFor } from '../support/instances.ts';
import type { CrossInstanceEnvironment, Instance } from '../support/instances.ts';

/** Forking instances costs ~2 s of CPU each (tsx, SDK, zod); CI machines have 2 cores and may be busy. */
const PROCESS_TEST_TIMEOUT_MS = 60_000;

let environment: CrossInstanceEnvironment | undefined;
let instances: Instance[] = [];

function start(count: number, overrides: Parameters<CrossInstanceEnvironment['workerOptions']>[0] = {}) {
  const started = Array.from({ length: count }, () => forkInstance(environment!.workerOptions(overrides)));
  instances.push(...started);
  return started;
}

afterEach(async () => {
  await Promise.all(instances.map((instance) => instance.kill()));
  instances = [];
  await environment?.close();
  environment = undefined;
});

describe('shared cache across OS processes (dynalite, development authorization server)', () => {
  it(
    'makes exactly one token request for 4 processes x 100 concurrent callers of one key',
    async () => {
      environment = await startCrossInstanceEnvironment();
      const four = start(4);
      await Promise.all(four.map((instance) => instance.ready));

      const reports = await Promise.all(four.map((instance) => instance.issue(100)));

      const puts = reports.reduce((sum, report) => sum + report.shared.puts, 0);
      expect(puts, 'instances that refreshed and stored a token').toBe(1);
      expect(environment.authorizationServer.requestCount()).toBe(1);
      for (const report of reports) {
        expect(report.errors).toEqual([]);
        expect(report.ok).toBe(100);
      }
      const fingerprints = new Set(reports.flatMap((report) => report.fingerprints));
      expect(fingerprints.size).toBe(1);
      expect(reports.reduce((sum, report) => sum + report.cached, 0)).toBe(300);
      expect(await environment.leasedItems()).toBe(0);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  describe('with a token endpoint whose first request never answers', () => {
    let provider: FaultServer;
    beforeAll(async () => {
      provider = await startFaultServer([hang, numberedTokens('survivor')]);
    });
    afterAll(() => provider.close());

    it(
      'lets another instance refresh once the lease of a holder killed mid-refresh lapses',
      async () => {
        environment = await startCrossInstanceEnvironment({ leaseMs: 2000 });
        const [holder, survivor] = start(2, { tokenUrl: provider.url });
        await Promise.all([holder!.ready, survivor!.ready]);

        void holder!.issue(1).catch(() => undefined);
        await waitFor(async () => provider.count() === 1);
        await holder!.kill();
        const report = await survivor!.issue(10);

        expect(report.errors).toEqual([]);
        expect(report.ok).toBe(10);
        expect(report.fingerprints).toHaveLength(1);
        expect(report.shared.leasesLost).toBeGreaterThan(0); // it waited for the dead holder's lease
        expect(report.shared.leasesWon).toBe(1);
        expect(provider.count(), 'the killed holder’s request and the survivor’s').toBe(2);
        expect(await environment.leasedItems()).toBe(0);
      },
      PROCESS_TEST_TIMEOUT_MS,
    );
  });

  it(
    'serves requests from memory and the upstream while DynamoDB is stopped',
    async () => {
      environment = await startCrossInstanceEnvironment();
      const [warm, late] = start(2);
      await Promise.all([warm!.ready, late!.ready]);
      const before = await warm!.issue(50);
      expect(environment.authorizationServer.requestCount()).toBe(1);

      await environment.dynamo.close();
      const fromMemory = await warm!.issue(50);
      const fromUpstream = await late!.issue(50);

      for (const report of [before, fromMemory, fromUpstream]) {
        expect(report.errors).toEqual([]);
        expect(report.ok).toBe(50);
      }
      expect(fromMemory.cached).toBe(50);
      expect(fromUpstream.cached).toBe(0);
      expect(environment.authorizationServer.requestCount()).toBe(2);
      expect(fromUpstream.warnings).toEqual([
        'shared token cache unavailable; serving from the in-process cache and the upstream',
      ]);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );
});
