/**
 * Key derivation stays off the event loop in the packaged functions: the health function,
 * from its unpacked zip on the template's Node.js major, opens a PKCS#12 near the work
 * budget whose every derivation is the PKCS#12 KDF, a JavaScript loop (5 derivations, 7 x
 * 850,000 iterations: test/fixtures/keystores/make.sh), through `GET /health?deep=1`.
 * A probe loaded into the function's process (`NODE_OPTIONS=--import`) records every
 * event-loop stall; `NODE_DEBUG=token-broker-kdf` makes lib/keystore/kdf-pool.ts log where
 * each derivation ran. The same zip with its `functions/kdf-worker.mjs` removed is the
 * baseline, run beside it: there the pool cannot start a worker, says so in a warning, and
 * derives on the event loop. The figures are ratios, never durations: the machine is shared.
 *
 * The refresh function does the same open while other refreshes run: a shard run (the
 * worker event `{shard: 0, shards: 1}`, which refreshes at once) over the costly profile and
 * three cheap ones, against the stand-in token endpoint with a few hundred ms of latency, on
 * the loopback stack (table, seal key, IAM gateways). With the worker, the cheap profiles'
 * token requests reach the endpoint and are answered, leases held, while the costly key is
 * still opening, and the longest stall is a small part of the open (the figure line also
 * gives it as a share of the lease renewal interval); inline, the open holds the loop and
 * every answer behind it. The scheduled event runs its `CertificateDaysLeft` step (which
 * opens every profile's key) beside the refreshes: with the worker, its cheap refreshes are
 * answered while the costly key opens too.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_MS, LEASE_RENEWALS_PER_PERIOD } from '../../lib/cache/shared-flight.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { RefreshSummary } from '../../lib/refresh/refresh.ts';
import { apiEvent, SCHEDULED_EVENT } from '../functions/events.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { startContainer, type InvocationResult } from '../support/lambda-runtime.ts';
import {
  FUNCTIONS,
  functionResourceId,
  packageService,
  type FunctionName,
  type PackagedService,
} from '../support/osls-package.ts';
import { startPackagedStack, templateEnvironment, type PackagedStack } from '../support/packaged-stack.ts';

const TITLE = 'packaged functions derive keys on a worker thread';
const KEYSTORE = 'lt-p12-legacy-costly.p12';
const CHEAP_KEYSTORE = 'p12-keytool-rsa2048.p12';
/** The refresh runs' cheap profiles, beside the costly one. */
const CHEAP = ['cheap-a', 'cheap-b', 'cheap-c'] as const;
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/app/session';
/** The least cost of a derivation of {@link KEYSTORE}. */
const COSTLY_COST = 850_000;
/** Stalls shorter than this are not recorded (timer jitter, garbage collection). */
const STALL_FLOOR_MS = 10;
/** The stand-in token endpoint's own latency: how long each refresh holds its lease waiting for it. */
const LATENCY_MS = 300;
/** A lease holder renews this often while its refresh runs (lib/cache/shared-flight.ts). */
const RENEWAL_INTERVAL_MS = DEFAULT_LEASE_MS / LEASE_RENEWALS_PER_PERIOD;
/** A shard worker's event: refreshes at once, with no certificate step before. */
const SHARD_EVENT = { shard: 0, shards: 1 };

/** Loaded with --import into the function's process: appends `<stall ms> <end epoch ms>` per stall. */
const PROBE = `
import { appendFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
const out = process.env.TB_STALL_LOG;
if (isMainThread && out) {
  let last = performance.timeOrigin + performance.now();
  setInterval(() => {
    const now = performance.timeOrigin + performance.now();
    if (now - last > ${STALL_FLOOR_MS}) appendFileSync(out, (now - last).toFixed(1) + ' ' + now.toFixed(1) + '\\n');
    last = now;
  }, 2).unref();
}
`;

const PROFILES = `profiles:
  costly:
    provider: generic
    issuer: costly-client
    subject: demo-user@example.com
    tokenUri: POST https://login.example.com/oauth/token
    audience: token-broker-demo
    certStore: file:${KEYSTORE}
    certStoreType: pkcs12
    certPassword: file:costly.password
    certAlias: signer
    callers: ['${CALLER_ARN}']
`;

/**
 * The refresh runs' profiles: the costly key and the cheap ones, each refreshing `subject`
 * (one per run, so no run finds another's token in the table). Each token URI names its
 * profile in the query, so the stand-in's arrivals say whose request came when.
 */
function refreshProfiles(tokenUrl: string, subject: string): string {
  const profile = (name: string, store: string, password: string) => `  ${name}:
    provider: generic
    issuer: ${name}
    subject: ${subject}
    tokenUri: POST ${tokenUrl}?profile=${name}
    audience: token-broker-demo
    certStore: file:${store}
    certStoreType: pkcs12
    certPassword: file:${password}
    certAlias: signer
    callers: ['${CALLER_ARN}']
    refresh: { subjects: ['${subject}'] }
`;
  const cheap = CHEAP.map((name) => profile(name, CHEAP_KEYSTORE, 'cheap.password'));
  return `profiles:\n${profile('costly', KEYSTORE, 'costly.password')}${cheap.join('')}`;
}

/** What one invocation of a cold container showed. */
interface Observed {
  readonly result: InvocationResult;
  /** When the invocation was sent (epoch ms). */
  readonly start: number;
  /** The longest event-loop stall (ms) while the invocation ran. */
  readonly longestStall: number;
  /** Where each derivation ran, its cost and how long it took, from the function's debug log. */
  readonly derivations: readonly { readonly where: string; readonly cost: number; readonly ms: number }[];
  readonly log: string;
}

/** What one deep health call on a cold container showed. */
interface Run extends Observed {
  readonly status: number;
  readonly body: string;
}

/** What one refresh run on a cold container showed. */
interface RefreshRun extends Observed {
  readonly summary: RefreshSummary;
  /** When each profile's token request reached the stand-in, ms after the invocation was sent. */
  readonly arrivals: Readonly<Record<string, number>>;
}

const now = () => performance.timeOrigin + performance.now();
/** The costly keystore's derivations (850,000 and 1,700,000 iterations; the cheap one's are 10,000). */
const costly = (run: Observed) => run.derivations.filter((d) => d.cost >= COSTLY_COST);
const longest = (run: Observed) => Math.max(...costly(run).map((d) => d.ms));
const total = (run: Observed) => costly(run).reduce((sum, d) => sum + d.ms, 0);

if (!skipWithoutLambdaNode(TITLE)) {
  describe(TITLE, () => {
    let packaged: PackagedService;
    const scratch = mkdtempSync(join(tmpdir(), 'tb-kdf-worker-'));
    const probe = join(scratch, 'stall-probe.mjs');
    let worker: Run;
    let inline: Run;

    /** Task root of `name` with the keystores (and, unless `withWorker`, no worker file). */
    function taskRoot(name: FunctionName, label: string, withWorker: boolean): string {
      const root = join(scratch, label);
      cpSync(packaged.unpack(name), root, { recursive: true });
      if (!withWorker) {
        rmSync(join(root, 'functions/kdf-worker.mjs'));
        rmSync(join(root, 'functions/kdf-worker.mjs.map'), { force: true });
      }
      copyFileSync(join(KEYSTORE_FIXTURES, KEYSTORE), join(root, KEYSTORE));
      writeFileSync(join(root, 'costly.password'), 'changeit\n');
      copyFileSync(join(KEYSTORE_FIXTURES, CHEAP_KEYSTORE), join(root, CHEAP_KEYSTORE));
      writeFileSync(join(root, 'cheap.password'), 'changeit\n');
      return root;
    }

    /** One invocation of `name` on a cold container of `root`, its stalls recorded. */
    async function invokeCold(
      name: FunctionName,
      label: string,
      root: string,
      env: Readonly<Record<string, string>>,
      event: unknown,
    ): Promise<Observed> {
      const resource = packaged.resources[functionResourceId(name)]!;
      const stalls = join(scratch, `${label}.stalls`);
      writeFileSync(stalls, '');
      const container = await startContainer({
        taskRoot: root,
        handler: FUNCTIONS[name],
        functionName: `token-broker-ci-${name}-${label}`,
        runtime: String(resource.Properties['Runtime']),
        timeoutSeconds: Number(resource.Properties['Timeout']),
        env: {
          ...env,
          NODE_OPTIONS: `${env['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(probe).href}`,
          NODE_DEBUG: 'token-broker-kdf',
          TB_STALL_LOG: stalls,
        },
      });
      try {
        const start = now();
        const result = await container.invoke(event);
        const end = now();
        // Stalls that ended within the invocation (the container is frozen after it), clipped to its start.
        let longestStall = 0;
        for (const line of readFileSync(stalls, 'utf8').split('\n').filter(Boolean)) {
          const [ms, at] = line.split(' ').map(Number) as [number, number];
          if (at < start || at > end) continue;
          longestStall = Math.max(longestStall, Math.min(ms, at - start));
        }
        const log = container.output();
        const derivations = [
          ...log.matchAll(/TOKEN-BROKER-KDF \d+: \S+ derivation, cost (\d+), (\d+) ms on (\w+)/g),
        ].map((m) => ({ where: m[3]!, cost: Number(m[1]), ms: Number(m[2]) }));
        return { result, start, longestStall, derivations, log };
      } finally {
        await container.close();
      }
    }

    /** One `GET /health?deep=1` on a cold container of the health function with the costly profile. */
    async function deepHealth(label: string, withWorker: boolean): Promise<Run> {
      const root = taskRoot('health', label, withWorker);
      writeFileSync(join(root, 'kdf-profiles.yaml'), PROFILES);
      const template = templateEnvironment(packaged.resources[functionResourceId('health')]!, 'unused');
      const event = apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN });
      const observed = await invokeCold(
        'health',
        label,
        root,
        {
          ...template,
          TOKEN_BROKER_CONFIG: 'kdf-profiles.yaml',
          // Who may ask for ?deep=1 (serverless param healthDeepCallers): the test's caller.
          TOKEN_BROKER_HEALTH_DEEP_CALLERS: 'arn:aws:iam::123456789012:role/app',
        },
        { ...event, rawQueryString: 'deep=1', queryStringParameters: { deep: '1' } },
      );
      const { result } = observed;
      if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
      const answer = result.payload as { statusCode: number; body: string };
      return { ...observed, status: answer.statusCode, body: answer.body };
    }

    beforeAll(async () => {
      writeFileSync(probe, PROBE);
      packaged = await packageService();
      expect(packaged.code, packaged.output).toBe(0);
      // One after the other, never at once: two costly opens would share the machine's cores.
      inline = await deepHealth('inline', false);
      worker = await deepHealth('worker', true);
      const figure = (run: Run) =>
        `longest stall ${run.longestStall.toFixed(0)} ms, derivations ${run.derivations
          .map((d) => `${d.ms} ms on ${d.where}`)
          .join(', ')}`;
      console.log(
        `kdf-worker: inline (no worker file): ${figure(inline)}\nkdf-worker: worker: ${figure(worker)}`,
      );
    }, 900_000);
    afterAll(() => {
      packaged?.remove();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('ships the worker beside the chunks: functions/kdf-worker.mjs', () => {
      const root = packaged.unpack('health');
      expect(readFileSync(join(root, 'functions/kdf-worker.mjs'), 'utf8')).toContain('node:worker_threads');
    });

    it('opens the keystore with every derivation on the worker thread', () => {
      expect(worker.status, worker.body).toBe(200);
      expect(JSON.parse(worker.body)).toMatchObject({ status: 'ok', checks: { costly: { ok: true } } });
      expect(worker.derivations.map((d) => d.where)).toEqual(Array(5).fill('worker'));
      expect(worker.log).not.toContain('TOKEN_BROKER_KDF_INLINE');
    });

    it('without the worker file, derives on the event loop and warns once', () => {
      expect(inline.status, inline.body).toBe(200);
      expect(inline.derivations.map((d) => d.where)).toEqual(Array(5).fill('inline'));
      expect(inline.log.match(/TOKEN_BROKER_KDF_INLINE/g)).toHaveLength(1);
    });

    it('keeps the longest event-loop stall a small fraction of the derivation time', () => {
      // Inline, the loop is held for at least a whole derivation (the open's derivations follow
      // one another in microtasks, so in fact for the whole open).
      expect(inline.longestStall).toBeGreaterThan(0.8 * longest(inline));
      // On the worker, what is left is loading the keystore code: a small part of the work.
      expect(worker.longestStall).toBeLessThan(0.1 * total(worker));
      expect(worker.longestStall).toBeLessThan(0.25 * inline.longestStall);
    });

    describe('the refresh function, the costly open among other refreshes', () => {
      let stack: PackagedStack;
      let auth: AuthorizationServer;
      /** Profile -> when its first token request reached the stand-in (epoch ms), for the run under way. */
      const arrivals = new Map<string, number>();
      let refreshInline: RefreshRun;
      let refreshWorker: RefreshRun;
      let scheduled: RefreshRun;

      /** One event on a cold container of the refresh function over the costly and the cheap profiles. */
      async function refreshRun(label: string, withWorker: boolean, event: unknown): Promise<RefreshRun> {
        const root = taskRoot('refresh', label, withWorker);
        writeFileSync(
          join(root, 'kdf-profiles.yaml'),
          refreshProfiles(auth.tokenUrl, `${label}@example.com`),
        );
        const template = templateEnvironment(packaged.resources[functionResourceId('refresh')]!, stack.table);
        arrivals.clear();
        const observed = await invokeCold(
          'refresh',
          label,
          root,
          { ...template, ...stack.iam.environment('refresh'), TOKEN_BROKER_CONFIG: 'kdf-profiles.yaml' },
          event,
        );
        const { result } = observed;
        if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
        const since = Object.fromEntries(
          [...arrivals].map(([profile, at]) => [profile, at - observed.start]),
        );
        return { ...observed, summary: result.payload as RefreshSummary, arrivals: since };
      }

      beforeAll(async () => {
        stack = await startPackagedStack({
          packaged,
          place: { partition: 'aws', region: 'eu-west-1', account: '123456789012' },
          stackName: 'token-broker-ci',
        });
        stack.secrets.put('token-broker/ci/cache-key', { text: randomBytes(32).toString('base64') });
        const certificate = (file: string) => readFileSync(join(KEYSTORE_FIXTURES, file), 'utf8');
        auth = await startAuthorizationServer({
          clients: [
            { clientId: 'costly', certificatePem: certificate(`${KEYSTORE}.cert.pem`) },
            ...CHEAP.map((clientId) => ({
              clientId,
              certificatePem: certificate(`${CHEAP_KEYSTORE}.signer.cert.pem`),
            })),
          ],
          audience: ['token-broker-demo'],
          latencyMs: LATENCY_MS,
        });
        auth.server.prependListener('request', (req) => {
          const profile = new URL(req.url ?? '/', auth.url).searchParams.get('profile');
          if (profile !== null && !arrivals.has(profile)) arrivals.set(profile, now());
        });
        // One after the other, as for health.
        refreshInline = await refreshRun('refresh-inline', false, SHARD_EVENT);
        refreshWorker = await refreshRun('refresh-worker', true, SHARD_EVENT);
        scheduled = await refreshRun('refresh-scheduled', true, SCHEDULED_EVENT);
        const figure = (run: RefreshRun) => {
          const stall = `longest stall ${run.longestStall.toFixed(0)} ms`;
          const share = `${(run.longestStall / RENEWAL_INTERVAL_MS).toFixed(2)} of a lease renewal interval`;
          const open = `costly open ${total(run)} ms on ${costly(run)[0]?.where}`;
          const requests = Object.entries(run.arrivals).map(([p, ms]) => `${p} ${ms.toFixed(0)} ms`);
          return `${stall} (${share}), ${open}, token requests at ${requests.join(', ')}`;
        };
        console.log(
          [
            `kdf-worker: refresh shard run, inline (no worker file): ${figure(refreshInline)}`,
            `kdf-worker: refresh shard run, worker: ${figure(refreshWorker)}`,
            `kdf-worker: refresh scheduled event, worker: ${figure(scheduled)}`,
          ].join('\n'),
        );
      }, 300_000);
      afterAll(async () => {
        await auth?.close();
        await stack?.close();
      });

      it('refreshes every subject, inline and on the worker, on the shard event and the schedule', () => {
        const everyOne = { refreshed: 1 + CHEAP.length, skipped: 0, failed: {}, deferred: 0 };
        for (const run of [refreshInline, refreshWorker, scheduled]) expect(run.summary).toEqual(everyOne);
        expect(costly(refreshInline).map((d) => d.where)).toEqual(Array(5).fill('inline'));
        expect(costly(refreshWorker).map((d) => d.where)).toEqual(Array(5).fill('worker'));
        expect(costly(scheduled).map((d) => d.where)).toEqual(Array(5).fill('worker'));
      });

      it('keeps the loop free while the costly key opens on the worker; inline the open holds it', () => {
        expect(refreshInline.longestStall).toBeGreaterThan(0.8 * longest(refreshInline));
        // On the worker, what is left is cold-start work before any key opens (the runtime is built
        // on the first event), which grows with the machine's load: hence wider bounds than for health.
        expect(refreshWorker.longestStall).toBeLessThan(0.2 * total(refreshWorker));
        expect(refreshWorker.longestStall).toBeLessThan(0.5 * refreshInline.longestStall);
      });

      it('answers the cheap refreshes while the costly key is still opening (the costly request comes once it has opened)', () => {
        const { arrivals: at } = refreshWorker;
        expect(Object.keys(at).sort()).toEqual(['costly', ...CHEAP].sort());
        // Sent, waited on for the endpoint's latency and answered, all before the costly key had opened.
        for (const name of CHEAP) expect(at[name]! + LATENCY_MS).toBeLessThan(at['costly']!);
        // Inline, none was answered before: they waited for the loop the open held.
        const { arrivals: held } = refreshInline;
        expect(Object.keys(held).sort()).toEqual(['costly', ...CHEAP].sort());
        for (const name of CHEAP) expect(held[name]! + LATENCY_MS).toBeGreaterThan(held['costly']!);
        // The schedule's certificate step runs beside the refreshes, not before them.
        const { arrivals: scheduledAt } = scheduled;
        for (const name of CHEAP)
          expect(scheduledAt[name]! + LATENCY_MS).toBeLessThan(scheduledAt['costly']!);
      });
    });
  });
}
