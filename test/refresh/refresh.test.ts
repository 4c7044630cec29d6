import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { runScheduledRefresh, type RefreshOptions } from '../../lib/refresh/refresh.ts';
import type { Caller } from '../../lib/types.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { manualClock, recordingLogger, recordingMetrics } from '../support/shared-cache-fixtures.ts';
import {
  CERT_FILE,
  closedPort,
  configFrom,
  dynamoCacheYaml,
  instance,
  refreshProfile,
  sealEnv,
} from './support.ts';

const CALLER: Caller = { id: 'arn:aws:iam::123456789012:role/billing-api', kind: 'iam' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** No deadline: these tests are about what gets refreshed, not when the run stops. */
const UNBOUNDED: RefreshOptions = { startBy: Infinity, finishBy: Infinity };

let dynamo: Dynalite;
let server: AuthorizationServer;
let clock: ReturnType<typeof manualClock>;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});
beforeEach(async () => {
  clock = manualClock(Date.now());
  await server?.close();
  // The server shares the brokers' clock, so assertions stay valid as the test moves time.
  server = await startAuthorizationServer({
    clients: [{ clientId: 'app', certificatePem: await readFile(CERT_FILE, 'utf8') }],
    clock: () => clock.now(),
  });
});
afterAll(async () => {
  await server.close();
});

/** A fresh table per test, so entries of one test never show up in another. */
function sharedConfig(profiles: string) {
  return configFrom(profiles, dynamoCacheYaml(dynamo.endpoint, `refresh-${randomUUID()}`));
}

function refresher(deps: Awaited<ReturnType<typeof instance>>, config: ReturnType<typeof configFrom>) {
  const logger = recordingLogger();
  const metrics = recordingMetrics();
  return {
    logger,
    metrics,
    run: (options: RefreshOptions = UNBOUNDED) =>
      runScheduledRefresh({ config, ...deps, clock: clock.now, logger, metrics }, options),
  };
}

describe('scheduled refresh of shared-cache entries (dynalite, development authorization server)', () => {
  it('refreshes a recently used token near expiry before a caller asks, so the caller gets a cache hit', async () => {
    const env = sealEnv();
    const config = sharedConfig(refreshProfile('demo', server.tokenUrl));
    const caller = await instance(config, env, clock.now);
    const schedule = refresher(await instance(config, env, clock.now), config);

    const first = await caller.broker.issue({ profile: 'demo', caller: CALLER });
    expect(first.cached).toBe(false);
    expect(server.requestCount()).toBe(1);

    clock.advance(HOUR - 4 * MINUTE); // 240 s left: inside the 300 s refresh margin
    const summary = await schedule.run();

    expect(summary).toEqual({ refreshed: 1, skipped: 0, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(2);
    // A new instance, and the first one asking for more than its old token has left: both hits.
    const fresh = await (
      await instance(config, env, clock.now)
    ).broker.issue({ profile: 'demo', caller: CALLER });
    const again = await caller.broker.issue({ profile: 'demo', caller: CALLER, minTtl: 600 });
    expect(fresh).toMatchObject({ cached: true, expires_in: 3600 });
    expect(again).toMatchObject({ cached: true, access_token: fresh.access_token });
    expect(fresh.access_token).not.toBe(first.access_token);
    expect(server.introspect(fresh.access_token)).toMatchObject({
      clientId: 'app',
      subject: 'alice@example.com',
    });
    expect(server.requestCount()).toBe(2);

    // Nothing is due right after: the next run asks upstream for nothing.
    expect(await schedule.run()).toEqual({ refreshed: 0, skipped: 0, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(2);
    expect(schedule.logger.lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        message: 'scheduled refresh finished',
        fields: expect.objectContaining({ refreshed: 1, deferred: 0 }),
      }),
    );
  });

  it('leaves a token alone when no caller used it within the window', async () => {
    const env = sealEnv();
    const config = sharedConfig(refreshProfile('demo', server.tokenUrl));
    const caller = await instance(config, env, clock.now);
    const schedule = refresher(await instance(config, env, clock.now), config);
    await caller.broker.issue({ profile: 'demo', caller: CALLER });

    clock.advance(HOUR + 5 * MINUTE);
    const summary = await schedule.run({ ...UNBOUNDED, usedWithinMs: HOUR });

    expect(summary).toEqual({ refreshed: 0, skipped: 0, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(1);
  });

  it('skips an entry whose profile no longer yields its key (issuer changed)', async () => {
    const env = sealEnv();
    const table = `refresh-${randomUUID()}`;
    const before = configFrom(
      refreshProfile('demo', server.tokenUrl),
      dynamoCacheYaml(dynamo.endpoint, table),
    );
    const after = configFrom(
      refreshProfile('demo', server.tokenUrl, { issuer: 'app-2' }),
      dynamoCacheYaml(dynamo.endpoint, table),
    );
    await (await instance(before, env, clock.now)).broker.issue({ profile: 'demo', caller: CALLER });
    const schedule = refresher(await instance(after, env, clock.now), after);

    clock.advance(HOUR - 2 * MINUTE);
    expect(await schedule.run()).toEqual({ refreshed: 0, skipped: 1, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(1);
  });
});

describe("scheduled refresh of the profiles' refresh subjects", () => {
  const profiles = () =>
    refreshProfile('demo', server.tokenUrl, {
      refresh: { subjects: ['alice@example.com', 'bob@example.com'], before: 900 },
    });

  it('obtains missing tokens, skips fresh ones, and refreshes early by refresh.before under a lease', async () => {
    const env = sealEnv();
    const config = sharedConfig(profiles());
    const schedule = refresher(await instance(config, env, clock.now), config);
    // A caller on an instance of its own, so its token comes from the shared cache.
    const bobOnNewInstance = async () =>
      (await instance(config, env, clock.now)).broker.issue({
        profile: 'demo',
        subject: 'bob@example.com',
        caller: CALLER,
      });

    expect(await schedule.run()).toEqual({ refreshed: 2, skipped: 0, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(2);
    const bob = await bobOnNewInstance();
    expect(bob).toMatchObject({ cached: true, expires_in: 3600 });
    expect(server.introspect(bob.access_token)).toMatchObject({ subject: 'bob@example.com' });

    expect(await schedule.run()).toEqual({ refreshed: 0, skipped: 2, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(2);

    // 600 s left: outside the cache's 300 s margin, inside the profile's 900 s.
    clock.advance(HOUR - 10 * MINUTE);
    expect(await schedule.run()).toEqual({ refreshed: 2, skipped: 0, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(4);
    const later = await bobOnNewInstance();
    expect(later).toMatchObject({ cached: true, expires_in: 3600 });
    expect(later.access_token).not.toBe(bob.access_token);
    const { Items = [] } = await dynamo.client().send(new ScanCommand({ TableName: config.cache.table }));
    expect(Items.filter((item) => item['lease'] !== undefined)).toEqual([]);
  });

  it('skips an early refresh while another instance holds the lease', async () => {
    const env = sealEnv();
    const config = sharedConfig(profiles());
    const refresherInstance = await instance(config, env, clock.now);
    const schedule = refresher(refresherInstance, config);
    await schedule.run();
    clock.advance(HOUR - 10 * MINUTE);
    const alice = refresherInstance.broker.describe({ profile: 'demo', subject: 'alice@example.com' });
    expect(
      await refresherInstance.sharedStore!.acquireLease(
        alice.key,
        alice.descriptor,
        'other-instance',
        30_000,
      ),
    ).toBe(true);

    expect(await schedule.run()).toEqual({ refreshed: 1, skipped: 1, failed: {}, deferred: 0 });
    expect(server.requestCount()).toBe(3);
  });

  it('keeps going past failing profiles and counts each failure by code', async () => {
    const env = sealEnv();
    const closed = `http://127.0.0.1:${await closedPort()}/token`;
    const config = configFrom(
      refreshProfile('ghost', server.tokenUrl, { issuer: 'unknown-client', refresh: {} }) +
        refreshProfile('down', closed, { refresh: {} }) +
        refreshProfile('picky', server.tokenUrl, {
          subjects: ['alice@example.com'],
          refresh: { subjects: ['mallory@example.org'] },
        }) +
        refreshProfile('demo', server.tokenUrl, { refresh: {} }),
    );
    const deps = await instance(config, env, clock.now, { exchange: { maxAttempts: 1 } });
    expect(deps.sharedStore).toBeUndefined();
    const schedule = refresher(deps, config);

    const summary = await schedule.run({ ...UNBOUNDED, concurrency: 1 });

    expect(summary).toEqual({
      refreshed: 1,
      skipped: 0,
      failed: { ERR_SUBJECT_NOT_ALLOWED: 1, ERR_UPSTREAM_REJECTED: 1, ERR_UPSTREAM_UNAVAILABLE: 1 },
      deferred: 0,
    });
    expect(
      schedule.metrics.counts
        .filter((c) => c.name === 'RefreshFailures')
        .map((c) => ({ code: c.dimension?.['code'] })),
    ).toEqual(
      expect.arrayContaining([
        { code: 'ERR_SUBJECT_NOT_ALLOWED' },
        { code: 'ERR_UPSTREAM_REJECTED' },
        { code: 'ERR_UPSTREAM_UNAVAILABLE' },
      ]),
    );
    const warnings = schedule.logger.warnings().filter((l) => l.message === 'scheduled refresh failed');
    expect(warnings.map((l) => l.fields)).toContainEqual(
      expect.objectContaining({
        profile: 'picky',
        subject: 'mallory@example.org',
        code: 'ERR_SUBJECT_NOT_ALLOWED',
        reason:
          'subject "mallory@example.org" is not allowed for profile "picky"; ask for one its subjects patterns match',
      }),
    );
    // Without a shared store the broker's own cache is warmed: its next issue is a hit.
    expect(await deps.broker.issue({ profile: 'demo', caller: CALLER })).toMatchObject({ cached: true });
  });
});
