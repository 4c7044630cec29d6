/**
 * Benchmark row P5: upstream token requests for N OS processes x M concurrent callers of
 * one key, each process a broker with its own in-process cache, all sharing one dynalite
 * table and one development authorization server. The goal is exactly 1.
 *
 * Run directly: `node --import tsx bench/shared-cache.ts [processes] [callers]`.
 */
import { pathToFileURL } from 'node:url';
import { delayed, numberedTokens, startFaultServer } from '../test/support/fault-server.ts';
import { askConcurrently, startFleet } from '../test/support/fleet.ts';
import { forkInstance, startCrossInstanceEnvironment } from '../test/support/instances.ts';

/** Default shape of the measurement (issue "Benchmarks", row P5). */
export const P5_PROCESSES = 4;
export const P5_CALLERS = 100;

/**
 * Starts dynalite, the authorization server and `processes` broker processes, fires
 * `callers` concurrent requests in each at once, and returns how many token requests
 * reached the authorization server.
 *
 * @throws Error when an instance fails to start or a request fails.
 */
export async function measureCrossInstance(processes = P5_PROCESSES, callers = P5_CALLERS): Promise<number> {
  const environment = await startCrossInstanceEnvironment();
  const instances = Array.from({ length: processes }, () => forkInstance(environment.workerOptions()));
  try {
    await Promise.all(instances.map((instance) => instance.ready));
    const reports = await Promise.all(instances.map((instance) => instance.issue(callers)));
    const failed = reports.flatMap((report) => report.errors);
    if (failed.length > 0)
      throw new Error(`${failed.length} requests failed: ${[...new Set(failed)].join(', ')}`);
    return environment.authorizationServer.requestCount();
  } finally {
    await Promise.all(instances.map((instance) => instance.stop()));
    await environment.close();
  }
}

/** Row P5-slow: how long the provider takes, longer than one shared-store lease. */
export const P5_SLOW_PROVIDER_MS = 12_000;

/**
 * Row P5-slow: `processes` `token-broker serve` processes on one dynalite table, `callers`
 * concurrent `POST /token` each, in front of a token endpoint that takes
 * {@link P5_SLOW_PROVIDER_MS}. Returns how many token requests reached it.
 *
 * @throws Error when a process fails to start or a caller is not answered 200.
 */
export async function measureSlowFleet(processes = P5_PROCESSES, callers = P5_CALLERS): Promise<number> {
  const provider = await startFaultServer([delayed(P5_SLOW_PROVIDER_MS, numberedTokens('slow'))]);
  const fleet = await startFleet([{ name: 'slow', tokenUrl: provider.url }]);
  try {
    const servers = [];
    for (let i = 0; i < processes; i++) servers.push(await fleet.start());
    const batches = await Promise.all(servers.map((serve) => askConcurrently(serve, 'slow', callers)));
    const failed = batches.flatMap((batch) => batch.errors);
    if (failed.length > 0)
      throw new Error(`${failed.length} requests failed: ${[...new Set(failed)].join(', ')}`);
    const tokens = new Set(batches.flatMap((batch) => batch.tokens));
    if (tokens.size !== 1) throw new Error(`${tokens.size} distinct tokens were handed out`);
    return provider.count();
  } finally {
    await fleet.close();
    await provider.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const processes = Number(process.argv[2] ?? P5_PROCESSES);
  const callers = Number(process.argv[3] ?? P5_CALLERS);
  const upstream = await measureCrossInstance(processes, callers);
  console.log(
    `P5 upstream requests for ${processes} processes x ${callers} callers, one key: ${upstream} (goal: exactly 1)`,
  );
  process.exitCode = upstream === 1 ? 0 : 1;
}
