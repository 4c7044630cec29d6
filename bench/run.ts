/**
 * `npm run bench [-- --quick] [-- --only P1,P3] [-- --record] [-- --write-docs]`: every
 * performance claim of the broker as a ratio against a baseline measured in the same run
 * (rows P1-P8; S1-S3, the schedule and the shared cache at scale).
 *
 * Prints a table and writes `bench/out/results.json` (gitignored). `--record` (full mode
 * only) writes the committed `bench/results.json` instead, with the run's date, commit and
 * load, and regenerates docs/performance.md's table from it; `--write-docs` only
 * regenerates the document from the recorded file. `--quick` runs small counts (CI), except
 * for the rows the guard watches, which keep enough calls to be stable.
 *
 * A row whose measurement is missing or fails says "not measured" and why, with
 * `pass: false`; no number is ever filled in. The run fails (exit code 1) when a row is not
 * measured or when a ratio row is worse than twice its goal (bench/guard.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { guard } from './guard.ts';
import type { BksFloor, KeystoreOpenResult } from './keystore-open.ts';
import type { Pkcs12Measurement } from './keystore-pkcs12.ts';
import type { PackagedBuild } from './packaged.ts';
import {
  fmt,
  mergeResults,
  readResults,
  renderDocs,
  table,
  type BenchRun,
  type Results,
  type Row,
} from './results.ts';
import { summarize, type Summary } from './stats.ts';

export type { Row } from './results.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Mode {
  readonly quick: boolean;
  readonly only: ReadonlySet<string> | undefined;
  /** Write bench/results.json and docs/performance.md (full mode only). */
  readonly record: boolean;
  /** Regenerate docs/performance.md from bench/results.json, measure nothing. */
  readonly writeDocs: boolean;
}

function parseArgs(argv: readonly string[]): Mode {
  const quick = argv.includes('--quick');
  const at = argv.indexOf('--only');
  const only =
    at >= 0 ? new Set((argv[at + 1] ?? '').split(',').map((s) => s.trim().toUpperCase())) : undefined;
  const record = argv.includes('--record');
  if (record && quick)
    throw new Error('--record writes the committed results: run it without --quick (full counts)');
  return { quick, only, record, writeDocs: argv.includes('--write-docs') };
}

function notMeasured(id: string, name: string, unit: string, goal: string, reason: string): Row {
  return {
    id,
    name,
    value: null,
    unit,
    baseline: null,
    ratio: null,
    goal,
    pass: false,
    min: null,
    median: null,
    p99: null,
    runs: 0,
    note: `not measured: ${reason}`,
  };
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}

const r2 = (n: number): number => Math.round(n * 100) / 100;

function row(
  fields: Omit<Row, 'value' | 'min' | 'median' | 'p99' | 'runs' | 'ratio'> & {
    ours: Summary;
    ratio?: number | null;
  },
): Row {
  const { ours, ratio, ...rest } = fields;
  const computed = ratio !== undefined ? ratio : rest.baseline ? ours.median / rest.baseline : null;
  return {
    ...rest,
    value: r2(ours.median),
    baseline: rest.baseline === null ? null : r2(rest.baseline),
    ratio: computed === null ? null : r2(computed),
    min: r2(ours.min),
    median: r2(ours.median),
    p99: r2(ours.p99),
    runs: ours.runs,
  };
}

// ---- P1 ------------------------------------------------------------------------------

async function p1(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.3x median, ≤ 1.5x p99';
  const name = 'token handler, cache hit, API Gateway v2 event, in process';
  try {
    const { measureHandlerHit } = await import('./p1-handler.ts');
    // Guarded: enough interleaved calls in quick mode too for a stable median.
    const r = await measureHandlerHit(mode.quick ? 5000 : 20_000);
    const median = r.handler.median / r.baseline.median;
    const p99 = r.handler.p99 / r.baseline.p99;
    const cpuMedian = r.handlerCpu.median / r.baselineCpu.median;
    const parts = Object.entries(r.breakdown).map(([k, s]) => `${k} ${s.median.toFixed(1)} µs`);
    const { measureIssueHit } = await import('./token-path.ts');
    const hit = await measureIssueHit(mode.quick ? 2000 : 20_000);
    parts.push(`broker.issue() hit alone ${hit.median.toFixed(1)} µs`);
    console.log(
      `P1 breakdown (median µs): peer ${r.baseline.median.toFixed(1)}, ${parts.join(', ')}, full ${r.handler.median.toFixed(1)}`,
    );
    return [
      row({
        id: 'P1',
        name,
        unit: 'µs',
        ours: r.handler,
        baseline: r.baseline.median,
        goal,
        pass: median <= 1.3 && p99 <= 1.5,
        note:
          `baseline: middy + JSON.parse of the body + a Map lookup returning a fixed token + one Powertools ` +
          `log line (the audit fields) + one EMF metric flushed per call (p99 ${r.baseline.p99.toFixed(1)} µs); ` +
          `p99 ratio ${p99.toFixed(2)}x; CPU per hit ${r.handlerCpu.median.toFixed(0)} µs median ` +
          `(p99 ${r.handlerCpu.p99.toFixed(0)}) vs ${r.baselineCpu.median.toFixed(0)} µs, ${cpuMedian.toFixed(2)}x; ` +
          `breakdown: ${parts.join('; ')}`,
      }),
      ...(await p1Packaged(mode)),
    ];
  } catch (err) {
    return [notMeasured('P1', name, 'µs', goal, reason(err)), ...(await p1Packaged(mode))];
  }
}

/** The packaged token function (bench/packaged.ts), built once per run. */
let packaged: Promise<PackagedBuild> | undefined;
function packagedBuild(): Promise<PackagedBuild> {
  packaged ??= import('./packaged.ts').then(({ buildPackagedToken }) => buildPackagedToken());
  return packaged;
}

/**
 * P1-node20 and P1-node22: the packaged token function (serverless.yml's esbuild build)
 * against the same peer, on this machine's Node 20 and on the functions' runtime's Node 22.
 */
async function p1Packaged(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.3x median, ≤ 1.5x p99';
  const rows: Row[] = [];
  for (const which of ['machine', 'deployed'] as const) {
    let id = which === 'machine' ? `P1-node${process.versions.node.split('.')[0]}` : 'P1-node22';
    const name = (version: string, target: string): string =>
      `token handler, cache hit, as P1, packaged function (esbuild ${target}, as serverless.yml) on Node ${version}`;
    try {
      const { deployedNode } = await import('./packaged.ts');
      const build = await packagedBuild();
      const node =
        which === 'machine'
          ? { path: process.execPath, version: process.version, why: "the machine's node" }
          : deployedNode();
      id = `P1-node${node.version.slice(1).split('.')[0]}`;
      if (rows.some((r) => r.id === id)) continue;
      const { measureHandlerHit } = await import('./p1-handler.ts');
      const r = await measureHandlerHit(mode.quick ? 5000 : 20_000, { node: node.path, bundle: build.entry });
      const median = r.handler.median / r.baseline.median;
      const p99 = r.handler.p99 / r.baseline.p99;
      rows.push(
        row({
          id,
          name: name(node.version, build.target),
          unit: 'µs',
          ours: r.handler,
          baseline: r.baseline.median,
          goal,
          pass: median <= 1.3 && p99 <= 1.5,
          note:
            `the P1 peer on the same node (${node.why}), interleaved (p99 ${r.baseline.p99.toFixed(1)} µs); ` +
            `p99 ratio ${p99.toFixed(2)}x; CPU per hit ${r.handlerCpu.median.toFixed(0)} µs median vs ` +
            `${r.baselineCpu.median.toFixed(0)} µs, ${(r.handlerCpu.median / r.baselineCpu.median).toFixed(2)}x`,
        }),
      );
    } catch (err) {
      rows.push(
        notMeasured(
          id,
          name(which === 'machine' ? process.version : 'v22', 'node22'),
          'µs',
          goal,
          reason(err),
        ),
      );
    }
  }
  return rows;
}

// ---- P2-kms --------------------------------------------------------------------------

async function p2Kms(mode: Mode): Promise<Row[]> {
  const goal = '≤ 2x';
  const name = 'issue() miss, KMS-held key (loopback KMS), local authorization server';
  try {
    const { measureKmsMiss } = await import('./kms-path.ts');
    const { ours, baseline } = await measureKmsMiss(mode.quick ? 30 : 300);
    return [
      row({
        id: 'P2-kms',
        name,
        unit: 'ms',
        ours,
        baseline: baseline.median,
        goal,
        pass: ours.median / baseline.median <= 2,
        note: `baseline: the P2 miss (same RSA 2048 key in memory, same server), interleaved (p99 ${baseline.p99.toFixed(2)} ms)`,
      }),
    ];
  } catch (err) {
    return [notMeasured('P2-kms', name, 'ms', goal, reason(err))];
  }
}

// ---- P2 ------------------------------------------------------------------------------

async function p2(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.3x';
  const name = 'issue() miss, key open, local authorization server';
  try {
    const { measureIssueMiss } = await import('./token-path.ts');
    const { ours, baseline } = await measureIssueMiss(mode.quick ? 30 : 300);
    const ratio = ours.median / baseline.median;
    return [
      row({
        id: 'P2',
        name,
        unit: 'ms',
        ours,
        baseline: baseline.median,
        goal,
        pass: ratio <= 1.3,
        note: `baseline: crypto.sign of the same claims + one fetch POST (p99 ${baseline.p99.toFixed(2)} ms)`,
      }),
    ];
  } catch (err) {
    return [notMeasured('P2', name, 'ms', goal, reason(err))];
  }
}

// ---- P3 ------------------------------------------------------------------------------

async function p3(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.15x';
  const sizeGoal = '≤ 600 KB (614400 bytes)';
  const name = 'cold import of the functions/token bundle, fresh node';
  try {
    const { measureColdStart, P3_TARGET } = await import('./p3-cold-start.ts');
    const r = await measureColdStart(mode.quick ? 9 : 25, 2);
    // serverless.yml builds each function with esbuild code splitting, so the row measures
    // that build; the single-file bundle is reported beside it.
    const ratio = r.split.median / r.baseline.median;
    const top = r.inputs.slice(0, 12).map((s) => `${s.name} ${(s.bytes / 1024).toFixed(0)} KB`);
    console.log(`P3 single-file token bundle inputs (top by bytes): ${top.join(', ')}`);
    return [
      row({
        id: 'P3',
        name: `${name} (${P3_TARGET}, minified, code splitting as deployed), node start subtracted`,
        unit: 'ms',
        ours: r.split,
        baseline: r.baseline.median,
        goal,
        pass: ratio <= 1.15,
        note:
          `baseline: bundle importing only @aws-sdk/client-secrets-manager (${r.baselineBytes} bytes); ` +
          `node start ${r.empty.median.toFixed(1)} ms subtracted; the same code as one file without splitting ` +
          `imports in ${r.token.median.toFixed(1)} ms, ${(r.token.median / r.baseline.median).toFixed(2)}x`,
      }),
      {
        id: 'P3-size',
        name: 'functions/token code read at cold start (entry + static chunks)',
        value: r.splitColdBytes,
        unit: 'bytes',
        baseline: r.baselineBytes,
        ratio: r2(r.splitColdBytes / r.baselineBytes),
        goal: sizeGoal,
        pass: r.splitColdBytes <= 614_400,
        min: null,
        median: null,
        p99: null,
        runs: 1,
        note:
          `all chunks (loaded on demand: AWS SDK, keystore formats, DynamoDB): ${r.splitTotalBytes} bytes; ` +
          `single-file bundle: ${r.tokenBytes} bytes; top inputs: ${top.slice(0, 6).join(', ')}`,
      },
      ...(await p3Deployed(mode)),
    ];
  } catch (err) {
    return [
      notMeasured('P3', name, 'ms', goal, reason(err)),
      notMeasured('P3-size', 'functions/token bundle size', 'bytes', sizeGoal, reason(err)),
      ...(await p3Deployed(mode)),
    ];
  }
}

/** P3-node22: the packaged token function's cold import on the functions' runtime's node. */
async function p3Deployed(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.15x';
  const name = 'cold import of the packaged functions/token.mjs (esbuild as serverless.yml), fresh node';
  try {
    const { deployedNode } = await import('./packaged.ts');
    const { measurePackagedColdStart } = await import('./p3-cold-start.ts');
    const node = deployedNode();
    const build = await packagedBuild();
    const r = await measurePackagedColdStart(node.path, build, mode.quick ? 9 : 25, 2);
    return [
      row({
        id: `P3-node${node.version.slice(1).split('.')[0]}`,
        name: `${name} ${node.version} (${node.runtime}), target ${build.target}, node start subtracted`,
        unit: 'ms',
        ours: r.entry,
        baseline: r.baseline.median,
        goal,
        pass: r.entry.median / r.baseline.median <= 1.15,
        note:
          `baseline: bundle importing only @aws-sdk/client-secrets-manager, built the same way, on the same node ` +
          `(${node.why}); node start ${r.empty.median.toFixed(1)} ms subtracted; interleaved`,
      }),
    ];
  } catch (err) {
    return [notMeasured('P3-node22', name, 'ms', goal, reason(err))];
  }
}

// ---- P4 ------------------------------------------------------------------------------

/** The PKCS#12 fixtures that stand for the kinds the issue names. */
const PKCS12_ROWS: readonly { id: string; file: string; name: string }[] = [
  {
    id: 'P4-p12-keytool',
    file: 'p12-keytool-rsa2048.p12',
    name: 'open PKCS#12 keytool-17 (10k iterations), RSA 2048',
  },
  { id: 'P4-p12-openssl', file: 'p12-openssl-rsa2048.p12', name: 'open PKCS#12 OpenSSL 3 default, RSA 2048' },
  {
    id: 'P4-p12-legacy',
    file: 'p12-openssl-legacy-rsa2048.p12',
    name: 'open PKCS#12 OpenSSL -legacy, RSA 2048',
  },
];

const OPEN_ROWS: Readonly<Record<string, { id: string; name: string }>> = {
  'jks rsa2048': { id: 'P4-jks', name: 'open JKS (keytool-17), RSA 2048' },
  'jceks rsa2048': { id: 'P4-jceks', name: 'open JCEKS (keytool-17), RSA 2048' },
  'bks rsa2048': { id: 'P4-bks', name: 'open BKS v2 (keytool + BouncyCastle 1.72), RSA 2048' },
  'pem rsa2048 + cert': { id: 'P4-pem', name: 'open PEM, RSA 2048 + certificate' },
  'pem ec256 sec1': { id: 'P4-pem-ec', name: 'open PEM, EC P-256 SEC1' },
  'encrypted pkcs8 rsa2048': { id: 'P4-pkcs8', name: 'open encrypted PKCS#8 PEM, RSA 2048' },
};

const JCEKS_NOTE =
  "baseline: the format's floor, 2 x 200,000 MD5 compressions (keytool-17 PBEWithMD5AndTripleDES) at the " +
  "native rate of `openssl speed -evp md5 -bytes 24` (openssl cannot read JCEKS; keytool's JVM start swamps it)";

/** The note of a row whose OpenSSL baseline is below the noise of its own process start. */
function belowNoise(tool: string, median: number): string {
  return `baseline: ${tool} is below the noise of its own process start (median ${median.toFixed(2)} ms after subtraction); no ratio`;
}

/** The BKS floor, or why it is missing. */
function bksFloorOf(measure: (() => BksFloor) | undefined): BksFloor | string {
  try {
    return measure?.() ?? 'not measured';
  } catch (err) {
    return `not measured (${reason(err)})`;
  }
}

async function p4Open(mode: Mode): Promise<Row[]> {
  const goal = '≤ 3 ms';
  let jceksFloor: (() => number) | undefined;
  let bksFloor: (() => BksFloor) | undefined;
  let results: readonly KeystoreOpenResult[] | undefined;
  let failure: string | undefined;
  try {
    const {
      measureKeystoreOpen,
      jceksFloorMs,
      bksFloor: measureBksFloor,
    } = await import('./keystore-open.ts');
    jceksFloor = jceksFloorMs;
    bksFloor = measureBksFloor;
    results = await measureKeystoreOpen(mode.quick ? 20 : 200, mode.quick ? 3 : 30);
  } catch (err) {
    failure = reason(err);
  }
  return Object.entries(OPEN_ROWS).map(([key, { id, name }]) => {
    const r = results?.find((x) => x.name === key);
    if (!r)
      return notMeasured(id, name, 'ms', goal, failure ?? `no "${key}" result from measureKeystoreOpen`);
    if (id === 'P4-jceks') {
      let floor: number | undefined;
      try {
        floor = jceksFloor?.();
      } catch {
        floor = undefined;
      }
      return row({
        id,
        name,
        unit: 'ms',
        ours: { ...r.open, runs: r.runs },
        baseline: floor ?? null,
        goal: '≤ 1.5x native MD5 floor',
        pass: floor !== undefined && r.open.median / floor <= 1.5,
        note: floor !== undefined ? JCEKS_NOTE : 'baseline: not measured (openssl speed unavailable)',
      });
    }
    if (id === 'P4-bks') {
      const floor = bksFloorOf(bksFloor);
      const ms = typeof floor === 'string' ? undefined : floor.ms;
      return row({
        id,
        name,
        unit: 'ms',
        ours: { ...r.open, runs: r.runs },
        baseline: ms ?? null,
        goal: '≤ 3 ms or ≤ 1.5x native SHA-1 floor',
        pass: r.open.median <= 3 || (ms !== undefined && r.open.median / ms <= 1.5),
        note: typeof floor === 'string' ? `baseline: the format's floor, ${floor}` : floor.note,
      });
    }
    const below = r.openssl !== undefined && r.openssl.median <= 0;
    return row({
      id,
      name,
      unit: 'ms',
      ours: { ...r.open, runs: r.runs },
      baseline: r.openssl && !below ? r.openssl.median : null,
      goal,
      pass: r.open.median <= 3,
      note: !r.openssl
        ? 'baseline: none (openssl cannot read JKS)'
        : below
          ? belowNoise('openssl pkey', r.openssl.median)
          : `baseline: openssl pkey, process start subtracted (min ${r.openssl.min.toFixed(2)} ms)`,
    });
  });
}

async function p4Pkcs12(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.5x OpenSSL';
  let results: readonly Pkcs12Measurement[] | undefined;
  let failure: string | undefined;
  try {
    const { measurePkcs12 } = await import('./keystore-pkcs12.ts');
    // Guarded: quick mode measures only the rows' fixtures, with enough runs for a median.
    results = await measurePkcs12(
      mode.quick ? 5 : 15,
      mode.quick ? 1 : 3,
      mode.quick ? new Set(PKCS12_ROWS.map((r) => r.file)) : undefined,
    );
  } catch (err) {
    failure = reason(err);
  }
  const within = results?.filter((r) => r.ratio > 0 && r.ratio <= 1.5).length ?? 0;
  const finite = results?.filter((r) => Number.isFinite(r.ratio) && r.ratio > 0) ?? [];
  const worst = finite.reduce<Pkcs12Measurement | undefined>(
    (w, r) => (!w || r.ratio > w.ratio ? r : w),
    undefined,
  );
  const noisy = (results?.length ?? 0) - finite.length;
  return PKCS12_ROWS.map(({ id, file, name }) => {
    const r = results?.find((x) => x.name === file);
    if (!r) return notMeasured(id, name, 'ms', goal, failure ?? `no result for ${file}`);
    const below = r.openssl.median <= 0;
    return row({
      id,
      name,
      unit: 'ms',
      ours: r.ours,
      baseline: below ? null : r.openssl.median,
      goal,
      pass: !below && r.ratio <= 1.5,
      note: below
        ? belowNoise('openssl pkcs12', r.openssl.median)
        : `baseline: openssl pkcs12 -nodes, process start subtracted; all ${results!.length} PKCS#12 fixtures: ` +
          `${within} within 1.5x, worst ${worst ? `${worst.name} ${worst.ratio.toFixed(2)}x` : '-'}` +
          (noisy > 0 ? `, ${noisy} with openssl below its process-start noise` : ''),
    });
  });
}

async function p4(mode: Mode): Promise<Row[]> {
  return [...(await p4Open(mode)), ...(await p4Pkcs12(mode))];
}

// ---- P5 ------------------------------------------------------------------------------

async function p5(mode: Mode): Promise<Row[]> {
  const goal = 'exactly 1';
  const name = 'upstream requests, 4 processes x 100 concurrent callers, shared cache on dynalite';
  try {
    const { measureCrossInstance } = await import('./shared-cache.ts');
    const counts: number[] = [];
    for (let i = 0; i < (mode.quick ? 1 : 3); i++) counts.push(await measureCrossInstance(4, 100));
    const sorted = [...counts].sort((a, b) => a - b);
    return [
      {
        id: 'P5',
        name,
        value: sorted[sorted.length - 1]!,
        unit: 'requests',
        baseline: null,
        ratio: null,
        goal,
        pass: counts.every((c) => c === 1),
        min: sorted[0]!,
        median: sorted[Math.floor(sorted.length / 2)]!,
        p99: sorted[sorted.length - 1]!,
        runs: counts.length,
        note: `value is the largest count over ${counts.length} run(s): ${counts.join(', ')}`,
      },
    ];
  } catch (err) {
    return [notMeasured('P5', name, 'requests', goal, reason(err))];
  }
}

async function p5Slow(): Promise<Row[]> {
  const goal = 'exactly 1';
  const name = 'upstream requests, 4 serve processes x 100 concurrent callers, upstream 12 s, dynalite';
  try {
    const { measureSlowFleet } = await import('./shared-cache.ts');
    const count = await measureSlowFleet(4, 100);
    return [
      {
        id: 'P5-slow',
        name,
        value: count,
        unit: 'requests',
        baseline: null,
        ratio: null,
        goal,
        pass: count === 1,
        min: count,
        median: count,
        p99: count,
        runs: 1,
        note: 'one run (each takes the provider 12 s); all 400 callers answered 200 with one token',
      },
    ];
  } catch (err) {
    return [notMeasured('P5-slow', name, 'requests', goal, reason(err))];
  }
}

// ---- P6 ------------------------------------------------------------------------------

async function p6(mode: Mode): Promise<Row[]> {
  const goal = '≥ 0.6x';
  const name = 'token-broker serve, cache hits, loopback, autocannon';
  try {
    const { measureServe } = await import('./p6-serve.ts');
    // Guarded: alternate rounds, the median round's ratio, in quick mode too.
    const [seconds, rounds] = mode.quick ? [2, 5] : [4, 5];
    const r = await measureServe(seconds, 20, rounds);
    const ratio = r.ratio;
    return [
      {
        id: 'P6',
        name: `${name} (${rounds} rounds of ${seconds} s each, ${r.connections} connections)`,
        value: Math.round(r.broker.average),
        unit: 'req/s',
        baseline: Math.round(r.baseline.average),
        ratio: r2(ratio),
        goal,
        pass: ratio >= 0.6 && r.upstreamRequests === 1,
        min: r.broker.min,
        median: r.broker.median,
        p99: r.broker.p99,
        runs: Math.round(r.broker.seconds),
        note:
          `value: mean req/s of the median round (round ratios ${r.ratios.map((x) => x.toFixed(2)).join(', ')}); ` +
          `min/median/p99 over its per-second samples; latency p99 ${r.broker.latencyP99} ms ` +
          `vs ${r.baseline.latencyP99} ms; baseline: node:http that parses the same JSON body, looks the token up ` +
          `in a Map, writes one JSON log line per request (the audit fields) and answers the same JSON and headers ` +
          `(per-second median ${r.baseline.median}); upstream requests ${r.upstreamRequests}`,
      },
    ];
  } catch (err) {
    return [notMeasured('P6', name, 'req/s', goal, reason(err))];
  }
}

// ---- P7 ------------------------------------------------------------------------------

async function p7(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.0x';
  // The peer's cached hit checks no caller, subject or scope: docs/performance.md says
  // which part of the rest is which check.
  const hitGoal = '≤ 4x';
  const missName = 'issue() miss vs google-auth-library JWT client, same RSA key, local authorization server';
  const hitName = 'issue() hit vs google-auth-library JWT getAccessToken(), cached';
  try {
    const { measureGoogleAuth } = await import('./p7-google-auth.ts');
    // Guarded: enough interleaved calls in quick mode too for a stable median.
    const r = await measureGoogleAuth(mode.quick ? 100 : 300, 20_000);
    const missRatio = r.miss.ours.median / r.miss.theirs.median;
    const hitRatio = r.hit.ours.median / r.hit.theirs.median;
    const redirect =
      'pointed at the local server by a request interceptor on its own gaxios transporter (no token URL option) ' +
      'and additionalClaims aud (the local token URL) and jti';
    return [
      row({
        id: 'P7-miss',
        name: missName,
        unit: 'ms',
        ours: r.miss.ours,
        baseline: r.miss.theirs.median,
        goal,
        pass: missRatio <= 1.0,
        note:
          `baseline: google-auth-library 10.9.1 new JWT({ email, key: PEM, subject, scopes }).getAccessToken() for a ` +
          `new subject each call (jws signs, gaxios posts), ${redirect}; ours: a new subject each call, key open ` +
          `(p99 ${r.miss.ours.p99.toFixed(2)} vs ${r.miss.theirs.p99.toFixed(2)} ms; ${r.upstream.misses} token requests)`,
      }),
      row({
        id: 'P7-hit',
        name: hitName,
        unit: 'µs',
        ours: r.hit.ours,
        baseline: r.hit.theirs.median,
        goal: hitGoal,
        pass: hitRatio <= 4,
        note:
          `baseline: the same JWT client's getAccessToken() with its token cached (an expiry check); ours: caller ` +
          `policy, request checks, cache key, in-process cache, the audit and metrics calls (silent logger, no ` +
          `metrics sink) (p99 ${r.hit.ours.p99.toFixed(1)} ` +
          `vs ${r.hit.theirs.p99.toFixed(1)} µs; ${r.upstream.hits} token requests)`,
      }),
    ];
  } catch (err) {
    return [
      notMeasured('P7-miss', missName, 'ms', goal, reason(err)),
      notMeasured('P7-hit', hitName, 'µs', hitGoal, reason(err)),
    ];
  }
}

// ---- S1-S3 ---------------------------------------------------------------------------

async function s1(mode: Mode): Promise<Row[]> {
  const goal = 'read / due ≤ 1.5 at both sizes, the same ratio';
  const sizes = mode.quick ? [1000, 5000] : [10_000, 100_000];
  const name = `items read per refresh run / items due, ${sizes.join(' and ')} items, 1% due, dynalite`;
  try {
    const { measureDueReads } = await import('./scale.ts');
    const results = [];
    for (const size of sizes) results.push(await measureDueReads(size));
    const ratios = results.map((r) => r.read / r.due);
    const worst = Math.max(...ratios);
    const largest = results[results.length - 1]!;
    const listedAll = results.every((r) => r.listed === r.due);
    return [
      {
        id: 'S1',
        name,
        value: r2(worst),
        unit: 'read/due',
        baseline: r2(largest.scanned / largest.due),
        ratio: r2(worst / (largest.scanned / largest.due)),
        goal,
        pass: worst <= 1.5 && Math.abs(ratios[0]! - ratios[1]!) <= 0.1 && listedAll,
        min: r2(Math.min(...ratios)),
        median: null,
        p99: null,
        runs: results.length,
        note:
          results
            .map(
              (r) =>
                `${r.items} items: ${r.due} due, ${r.read} read by ${r.queries} Queries on the due index, ` +
                `${r.listed} listed; a Scan reads ${r.scanned}`,
            )
            .join('; ') + '; baseline: the Scan the refresh ran before (items read / items due)',
      },
    ];
  } catch (err) {
    return [notMeasured('S1', name, 'read/due', goal, reason(err))];
  }
}

async function s2(mode: Mode): Promise<Row[]> {
  const goal = '≥ 0.8x linear at 4 and 8 workers';
  const name = 'tokens refreshed per minute by 1, 4 and 8 worker processes (shards), dynalite';
  try {
    const { measureRefreshThroughput, S2_CONCURRENCY, S2_LATENCY_MS } = await import('./scale.ts');
    const loadAtStart = loadavg()[0]!;
    const perShard = mode.quick ? 4 : 8;
    const rounds = mode.quick ? 1 : 2;
    const perMinute: Record<number, number[]> = { 1: [], 4: [], 8: [] };
    let commands = '';
    for (let round = 0; round < rounds; round++) {
      for (const workers of [1, 4, 8]) {
        const r = await measureRefreshThroughput(workers, perShard);
        perMinute[workers]!.push(r.perMinute);
        if (workers === 8 && round === 0) {
          commands = Object.entries(r.commands)
            .map(([command, c]) =>
              command === 'Query'
                ? `Query ${c.requests} requests per run (all shards), ${(c.items / r.refreshed).toFixed(2)} items`
                : `${command} ${(c.requests / r.refreshed).toFixed(2)} requests`,
            )
            .join(', ');
        }
      }
    }
    const median = (xs: number[]) => summarize(xs).median;
    const one = median(perMinute[1]!);
    const four = median(perMinute[4]!) / (4 * one);
    const eight = median(perMinute[8]!) / (8 * one);
    return [
      row({
        id: 'S2',
        name,
        unit: 'x linear',
        ours: { ...summarize([Math.min(four, eight)]), runs: rounds },
        baseline: null,
        ratio: null,
        goal,
        pass: four >= 0.8 && eight >= 0.8,
        note:
          `tokens/min (median of ${rounds}): 1 worker ${one.toFixed(0)}, 4 workers ${median(perMinute[4]!).toFixed(0)} ` +
          `(${four.toFixed(2)}x linear), 8 workers ${median(perMinute[8]!).toFixed(0)} (${eight.toFixed(2)}x linear); ` +
          `${perShard} due tokens per shard, ${S2_CONCURRENCY} refreshes at once per worker, provider latency ` +
          `${S2_LATENCY_MS} ms per exchange; load average at the start ${loadAtStart.toFixed(1)}; ` +
          `DynamoDB per refreshed token at 8 workers: ${commands}`,
      }),
    ];
  } catch (err) {
    return [notMeasured('S2', name, 'x linear', goal, reason(err))];
  }
}

async function s3(mode: Mode): Promise<Row[]> {
  const goal = 'exactly 1';
  const [processes, callers] = mode.quick ? [4, 20] : [16, 50];
  const name = `upstream requests, ${processes} processes x ${callers} concurrent callers on one hot key`;
  try {
    const { measureHotKey, EXCHANGE_LATENCY_MS } = await import('./scale.ts');
    const count = await measureHotKey(processes, callers);
    return [
      {
        id: 'S3',
        name,
        value: count,
        unit: 'requests',
        baseline: null,
        ratio: null,
        goal,
        pass: count === 1,
        min: count,
        median: count,
        p99: count,
        runs: 1,
        note: `shared cache on dynalite, provider latency ${EXCHANGE_LATENCY_MS} ms per exchange`,
      },
    ];
  } catch (err) {
    return [notMeasured('S3', name, 'requests', goal, reason(err))];
  }
}

// ---- P8 ------------------------------------------------------------------------------

async function p8(mode: Mode): Promise<Row[]> {
  const goal = '≤ 1.5x';
  const name = 'issue() hit with a new DPoP proof each time (checked, replay recorded)';
  try {
    const { measureDpopHit } = await import('./dpop.ts');
    const r = await measureDpopHit(mode.quick ? 500 : 5000);
    return [
      row({
        id: 'P8',
        name,
        unit: 'µs',
        ours: r.ours,
        baseline: r.baseline.median,
        goal,
        pass: r.ratio <= 1.5,
        note: `baseline: jose jwtVerify of the same kind of proof with its embedded jwk (p99 ${r.baseline.p99.toFixed(1)} µs)`,
      }),
    ];
  } catch (err) {
    return [notMeasured('P8', name, 'µs', goal, reason(err))];
  }
}

// ---- run -----------------------------------------------------------------------------

const SECTIONS: readonly [string, (mode: Mode) => Promise<Row[]>][] = [
  ['P1', p1],
  ['P2', p2],
  ['P2-kms', p2Kms],
  ['P3', p3],
  ['P4', p4],
  ['P5', async (mode) => [...(await p5(mode)), ...(await p5Slow())]],
  ['P6', p6],
  ['P7', p7],
  ['S1', s1],
  ['S2', s2],
  ['S3', s3],
  ['P8', p8],
];

const RESULTS = join(HERE, 'results.json');
const DOCS = join(HERE, '..', 'docs', 'performance.md');

/** Regenerates docs/performance.md's generated part from `results`. */
async function writeDocs(results: Results): Promise<void> {
  await writeFile(DOCS, renderDocs(await readFile(DOCS, 'utf8'), results));
  console.log(`wrote ${DOCS}`);
}

/** The commit measured: short hash, `+changes` when the working tree differs from it. */
function commit(): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: HERE, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

let mode: Mode;
try {
  mode = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(`bench: ${reason(err)}`);
  process.exit(2);
}
if (mode.writeDocs) {
  await writeDocs(await readResults(RESULTS));
  process.exit(0);
}
const started = Date.now();
const date = new Date(started).toISOString();
const loadAtStart = loadavg()[0]!;
const load = loadavg().map((n) => n.toFixed(1));
console.log(
  `token-broker bench (${mode.quick ? 'quick' : 'full'}), node ${process.version}, load average ${load.join(' ')}`,
);
const rows: Row[] = [];
for (const [id, measure] of SECTIONS) {
  if (mode.only && !mode.only.has(id.toUpperCase())) continue;
  const t = Date.now();
  const measured = await measure(mode);
  rows.push(...measured);
  for (const r of measured)
    console.log(
      `${r.id}: ${r.value === null ? r.note : `${fmt(r.value, r.unit)}, ratio ${fmt(r.ratio)}, ${r.pass ? 'pass' : 'FAIL'}`}`,
    );
  console.log(`  (${id} took ${((Date.now() - t) / 1000).toFixed(1)} s)`);
}
console.log('');
console.log(table(rows));
for (const r of rows) console.log(`- ${r.id}: ${r.note}`);
const run: BenchRun = {
  date,
  commit: commit(),
  node: process.version,
  cpus: cpus().length,
  load: [Math.round(loadAtStart * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
  args: process.argv.slice(2).join(' '),
};
// A plain run never rewrites the committed results: only --record does.
const out = mode.record ? RESULTS : join(HERE, 'out', 'results.json');
await mkdir(join(out, '..'), { recursive: true });
let previous: Results = { runs: [], rows: [] };
try {
  previous = await readResults(out);
} catch {
  // no earlier results in that place
}
const results = mergeResults(
  previous,
  rows,
  run,
  SECTIONS.map(([id]) => id),
  mode.only,
);
await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
if (mode.record) await writeDocs(results);
// Goals missed are reported, not fatal; a measurement that broke, or a ratio worse than
// twice its goal (a regression no machine noise explains), fails the run.
const broken = rows.filter((r) => r.value === null);
if (broken.length > 0) {
  console.log(`not measured: ${broken.map((r) => r.id).join(', ')}`);
  process.exitCode = 1;
}
if (packaged) await packaged.then((build) => build.remove()).catch(() => undefined);
const breaches = guard(rows);
if (breaches.length > 0) {
  console.log(`\nregression guard: ${breaches.length} row(s) worse than twice their goal (bench/guard.ts)`);
  for (const b of breaches) console.log(`  ${b.message}`);
  process.exitCode = 1;
} else {
  console.log(`\nregression guard: every measured ratio row within twice its goal (or its floor)`);
}
console.log(
  `\nwrote ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s; load average now ${loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}`,
);
