/**
 * A fleet of 4 `token-broker serve` processes on one dynalite table, 100 concurrent
 * callers each, in front of token endpoints slower than the lease: the lease is renewed
 * while the exchange runs, so the fleet asks upstream once and hands out one token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_MS } from '../../lib/cache/shared-flight.ts';
import {
  delayed,
  hang,
  json,
  numberedTokens,
  startFaultServer,
  type FaultServer,
} from '../support/fault-server.ts';
import { askConcurrently, startFleet, type Fleet, type ServeProcess } from '../support/fleet.ts';

/** The slow provider of the issue: longer than one lease, shorter than one exchange attempt. */
const SLOW_PROVIDER_MS = 12_000;
const FLAKY_SECOND_ANSWER_MS = 6_000;
/** Time between the kill and the survivor's token: the lease lapses, one poll (1 s), one exchange. */
const SURVIVOR_ANSWER_MS = 300;
const TEST_TIMEOUT_MS = 120_000;

let slow: FaultServer;
let flaky: FaultServer;
let killed: FaultServer;
let fleet: Fleet;
let four: ServeProcess[];

beforeAll(async () => {
  slow = await startFaultServer([delayed(SLOW_PROVIDER_MS, numberedTokens('slow'))]);
  flaky = await startFaultServer([
    json(503, { error: 'temporarily_unavailable' }),
    delayed(FLAKY_SECOND_ANSWER_MS, numberedTokens('flaky')),
  ]);
  killed = await startFaultServer([hang, delayed(SURVIVOR_ANSWER_MS, numberedTokens('survivor'))]);
  fleet = await startFleet([
    { name: 'slow', tokenUrl: slow.url },
    { name: 'flaky', tokenUrl: flaky.url },
    { name: 'killed', tokenUrl: killed.url },
  ]);
  four = [];
  for (let i = 0; i < 4; i++) four.push(await fleet.start());
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await fleet?.close();
  await Promise.all([slow?.close(), flaky?.close(), killed?.close()]);
});

describe('a fleet of 4 serve processes on one dynalite table', () => {
  it(
    `makes 1 upstream request and hands out 1 token to 400 callers when the provider takes ${SLOW_PROVIDER_MS / 1000} s`,
    async () => {
      const batches = await Promise.all(four.map((serve) => askConcurrently(serve, 'slow', 100)));

      expect(slow.count()).toBe(1);
      const statuses = batches.flatMap((batch) => batch.statuses);
      expect(statuses.filter((status) => status === 200)).toHaveLength(400);
      expect(batches.flatMap((batch) => batch.errors)).toEqual([]);
      expect(new Set(batches.flatMap((batch) => batch.tokens))).toEqual(new Set(['slow-1']));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `asks once more after a 503 and hands out 1 token when the retry takes ${FLAKY_SECOND_ANSWER_MS / 1000} s`,
    async () => {
      const batches = await Promise.all(four.map((serve) => askConcurrently(serve, 'flaky', 100)));

      expect(flaky.count(), 'the 503 and its one retry, by the lease holder only').toBe(2);
      expect(batches.flatMap((batch) => batch.errors)).toEqual([]);
      expect(batches.flatMap((batch) => batch.statuses).filter((status) => status === 200)).toHaveLength(400);
      expect(new Set(batches.flatMap((batch) => batch.tokens))).toEqual(new Set(['flaky-1']));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'takes over from a holder killed with SIGKILL mid-exchange within one lease and one exchange',
    async () => {
      const holder = await fleet.start();
      const holderAnswer = askConcurrently(holder, 'killed', 1).catch(() => undefined);
      const started = Date.now();
      while (killed.count() < 1) {
        if (Date.now() - started > 30_000) throw new Error('the holder never reached the token endpoint');
        await new Promise((done) => setTimeout(done, 20));
      }
      await holder.kill();
      await holderAnswer;
      const killedAt = Date.now();

      const survivor = await askConcurrently(four[0]!, 'killed', 10);

      const tookMs = Date.now() - killedAt;
      expect(survivor.errors).toEqual([]);
      expect(new Set(survivor.tokens)).toEqual(new Set(['survivor-1']));
      expect(killed.count(), 'the killed holder’s request and the survivor’s').toBe(2);
      // A lease of its own length at most (last renewal before the kill), one poll, one exchange.
      expect(tookMs).toBeLessThan(DEFAULT_LEASE_MS + 1_000 + SURVIVOR_ANSWER_MS + 2_000);
      expect(tookMs, 'the survivor waited for the lease instead of asking at once').toBeGreaterThan(
        DEFAULT_LEASE_MS / 3,
      );
    },
    TEST_TIMEOUT_MS,
  );
});
