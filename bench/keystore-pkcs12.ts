/**
 * Opening PKCS#12 files (parse + decryptKey) against OpenSSL's own parse of the same file
 * (`openssl pkcs12 -in F -nodes`), whose process start (`openssl version`) is subtracted.
 *
 * Usage: node --import tsx bench/keystore-pkcs12.ts [runs]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parsePkcs12 } from '../lib/keystore/pkcs12.ts';
import { readManifest } from '../test/support/keystore-manifests.ts';
import { type Summary, summarize } from './stats.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/keystores/', import.meta.url));

/** One fixture's numbers: ours, OpenSSL's (process start subtracted), and ours / OpenSSL's median. */
export interface Pkcs12Measurement {
  readonly name: string;
  /** min / median / p99 in milliseconds. */
  readonly ours: Summary;
  readonly openssl: Summary;
  readonly ratio: number;
}

function time(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

function openssl(args: string[], password?: string): void {
  const result = spawnSync('openssl', args, {
    env: { ...process.env, P12_PASS: password ?? '' },
    stdio: 'ignore',
  });
  if (result.status !== 0) throw new Error(`openssl ${args.slice(0, 3).join(' ')} failed`);
}

/**
 * Times every openable PKCS#12 fixture (or those named in `only`), interleaving ours,
 * OpenSSL and the OpenSSL process start so drift on a shared machine hits all three alike.
 */
export async function measurePkcs12(
  runs = 25,
  warmup = 5,
  only?: ReadonlySet<string>,
): Promise<Pkcs12Measurement[]> {
  const manifest = readManifest('manifest.pkcs12.json');
  const seen = new Set<string>();
  const fixtures = manifest.filter(
    (f) => !f.expectError && (!only || only.has(f.file)) && !seen.has(f.file) && seen.add(f.file),
  );
  const results: Pkcs12Measurement[] = [];
  for (const fixture of fixtures) {
    const path = FIXTURES + fixture.file;
    const bytes = readFileSync(path);
    const ours = (): void => {
      const store = parsePkcs12(bytes, fixture.password);
      const entry = store.entries.find((e) => e.kind === 'private-key')!;
      entry.decryptKey!(fixture.password);
    };
    const args = ['pkcs12', '-in', path, '-nodes', '-passin', 'env:P12_PASS', '-out', '/dev/null'];
    if (fixture.file.includes('legacy')) args.push('-legacy');
    const theirs = (): void => openssl(args, fixture.password);
    const start = (): void => openssl(['version']);
    for (let i = 0; i < warmup; i++) {
      ours();
      theirs();
      start();
    }
    const o: number[] = [];
    const t: number[] = [];
    const s: number[] = [];
    for (let i = 0; i < runs; i++) {
      o.push(time(ours));
      t.push(time(theirs));
      s.push(time(start));
    }
    const baseline = summarize(s).median;
    const openSsl = summarize(t.map((sample) => Math.max(0, sample - baseline)));
    const mine = summarize(o);
    results.push({ name: fixture.file, ours: mine, openssl: openSsl, ratio: mine.median / openSsl.median });
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const runs = Number(process.argv[2] ?? 25);
  const results = await measurePkcs12(runs);
  const ms = (n: number): string => n.toFixed(2).padStart(7);
  console.log(
    `PKCS#12 open (parse + decryptKey) vs openssl pkcs12 -nodes minus process start; ${runs} runs, ms`,
  );
  console.log(
    `${'file'.padEnd(34)} ${'ours min/median/p99'.padStart(25)} ${'openssl min/median/p99'.padStart(25)}  ratio`,
  );
  for (const r of results)
    console.log(
      `${r.name.padEnd(34)} ${ms(r.ours.min)} ${ms(r.ours.median)} ${ms(r.ours.p99)}  ` +
        `${ms(r.openssl.min)} ${ms(r.openssl.median)} ${ms(r.openssl.p99)}  ${r.ratio.toFixed(2)}x`,
    );
}
