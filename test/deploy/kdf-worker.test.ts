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
 */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiEvent } from '../functions/events.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { startContainer } from '../support/lambda-runtime.ts';
import {
  FUNCTIONS,
  functionResourceId,
  packageService,
  type PackagedService,
} from '../support/osls-package.ts';
import { templateEnvironment } from '../support/packaged-stack.ts';

const TITLE = 'packaged functions derive keys on a worker thread';
const KEYSTORE = 'lt-p12-legacy-costly.p12';
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/app/session';
/** Stalls shorter than this are not recorded (timer jitter, garbage collection). */
const STALL_FLOOR_MS = 10;

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

/** What one deep health call on a cold container showed. */
interface Run {
  readonly status: number;
  readonly body: string;
  /** The longest event-loop stall (ms) while the call ran. */
  readonly longestStall: number;
  /** Where each derivation ran and how long it took, from the function's debug log. */
  readonly derivations: readonly { readonly where: string; readonly ms: number }[];
  readonly log: string;
}

if (!skipWithoutLambdaNode(TITLE)) {
  describe(TITLE, () => {
    let packaged: PackagedService;
    const scratch = mkdtempSync(join(tmpdir(), 'tb-kdf-worker-'));
    const probe = join(scratch, 'stall-probe.mjs');
    let worker: Run;
    let inline: Run;

    /** Task root of the health function with the costly profile (and, unless `withWorker`, no worker file). */
    function taskRoot(label: string, withWorker: boolean): string {
      const root = join(scratch, label);
      cpSync(packaged.unpack('health'), root, { recursive: true });
      if (!withWorker) {
        rmSync(join(root, 'functions/kdf-worker.mjs'));
        rmSync(join(root, 'functions/kdf-worker.mjs.map'), { force: true });
      }
      copyFileSync(join(KEYSTORE_FIXTURES, KEYSTORE), join(root, KEYSTORE));
      writeFileSync(join(root, 'costly.password'), 'changeit\n');
      writeFileSync(join(root, 'kdf-profiles.yaml'), PROFILES);
      return root;
    }

    /** One `GET /health?deep=1` on a cold container of `root`, its stalls recorded. */
    async function deepHealth(label: string, root: string): Promise<Run> {
      const resource = packaged.resources[functionResourceId('health')]!;
      const template = templateEnvironment(resource, 'unused');
      const stalls = join(scratch, `${label}.stalls`);
      writeFileSync(stalls, '');
      const container = await startContainer({
        taskRoot: root,
        handler: FUNCTIONS.health,
        functionName: `token-broker-ci-health-${label}`,
        runtime: String(resource.Properties['Runtime']),
        timeoutSeconds: Number(resource.Properties['Timeout']),
        env: {
          ...template,
          TOKEN_BROKER_CONFIG: 'kdf-profiles.yaml',
          // Who may ask for ?deep=1 (serverless param healthDeepCallers): the test's caller.
          TOKEN_BROKER_HEALTH_DEEP_CALLERS: 'arn:aws:iam::123456789012:role/app',
          NODE_OPTIONS: `${template['NODE_OPTIONS'] ?? ''} --import=${pathToFileURL(probe).href}`,
          NODE_DEBUG: 'token-broker-kdf',
          TB_STALL_LOG: stalls,
        },
      });
      try {
        const event = apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN });
        const start = performance.timeOrigin + performance.now();
        const result = await container.invoke({
          ...event,
          rawQueryString: 'deep=1',
          queryStringParameters: { deep: '1' },
        });
        const end = performance.timeOrigin + performance.now();
        if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
        const answer = result.payload as { statusCode: number; body: string };
        // Stalls that ended within the call, clipped to its start.
        let longestStall = 0;
        for (const line of readFileSync(stalls, 'utf8').split('\n').filter(Boolean)) {
          const [ms, at] = line.split(' ').map(Number) as [number, number];
          if (at < start || at > end) continue;
          longestStall = Math.max(longestStall, Math.min(ms, at - start));
        }
        const log = container.output();
        const derivations = [
          ...log.matchAll(/TOKEN-BROKER-KDF \d+: \S+ derivation, cost \d+, (\d+) ms on (\w+)/g),
        ].map((m) => ({ where: m[2]!, ms: Number(m[1]) }));
        return { status: answer.statusCode, body: answer.body, longestStall, derivations, log };
      } finally {
        await container.close();
      }
    }

    beforeAll(async () => {
      writeFileSync(probe, PROBE);
      packaged = await packageService();
      expect(packaged.code, packaged.output).toBe(0);
      // One after the other, never at once: two costly opens would share the machine's cores.
      inline = await deepHealth('inline', taskRoot('inline', false));
      worker = await deepHealth('worker', taskRoot('worker', true));
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
      const longest = (run: Run) => Math.max(...run.derivations.map((d) => d.ms));
      const total = (run: Run) => run.derivations.reduce((sum, d) => sum + d.ms, 0);
      // Inline, the loop is held for at least a whole derivation (the open's derivations follow
      // one another in microtasks, so in fact for the whole open).
      expect(inline.longestStall).toBeGreaterThan(0.8 * longest(inline));
      // On the worker, what is left is loading the keystore code: a small part of the work.
      expect(worker.longestStall).toBeLessThan(0.1 * total(worker));
      expect(worker.longestStall).toBeLessThan(0.25 * inline.longestStall);
    });
  });
}
