/**
 * Measures openKeystore once its modules are loaded: median, min and p99 over many runs on
 * the JKS, JCEKS, PEM and encrypted PKCS#8 fixtures, beside OpenSSL's own parse of the PEM
 * files (`openssl pkey`, its process start subtracted).
 *
 *   node --import tsx bench/keystore-open.ts
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { openKeystore } from '../lib/keystore/index.ts';
import type { OpenKeystoreOptions } from '../lib/keystore/types.ts';
import { type Summary, summarize, timeAsync } from './stats.ts';

const DIR = join(import.meta.dirname, '../test/fixtures/keystores');
const PEM_PASS = 'pä ss wörd ✓';

interface Case {
  readonly name: string;
  readonly file: string;
  readonly options: OpenKeystoreOptions;
  /** `openssl pkey` arguments for the baseline, for PEM files. */
  readonly openssl?: readonly string[];
}

const CASES: readonly Case[] = [
  { name: 'jks rsa2048', file: 'java-rsa2048.jks', options: { password: 'changeit' } },
  { name: 'jceks rsa2048', file: 'java-rsa2048.jceks', options: { password: 'changeit' } },
  { name: 'bks rsa2048', file: 'lt-bks.bks', options: { password: 'changeit', alias: 'signer' } },
  {
    name: 'pem rsa2048 + cert',
    file: 'pem-rsa2048-with-cert.pem',
    options: {},
    openssl: ['pkey', '-noout', '-in'],
  },
  {
    name: 'pem ec256 sec1',
    file: 'pem-ec256-sec1.pem',
    options: { certificate: readFileSync(join(DIR, 'pem-ec256-sec1.pem.cert.pem')) },
    openssl: ['pkey', '-noout', '-in'],
  },
  {
    name: 'encrypted pkcs8 rsa2048',
    file: 'pem-rsa2048-encrypted.pem',
    options: { password: PEM_PASS },
    openssl: ['pkey', '-noout', '-passin', `pass:${PEM_PASS}`, '-in'],
  },
];

/** keytool 17 protects a JCEKS key with 200,000 MD5 rounds per salt half. */
export const JCEKS_MD5_ROUNDS = 2 * 200_000;

/**
 * The JCEKS floor: the time {@link JCEKS_MD5_ROUNDS} MD5 compressions take natively, from
 * `openssl speed -evp md5` on inputs as long as one round's (the 16-byte digest and the
 * 8-byte password `changeit`: one block each).
 */
export function jceksFloorMs(): number {
  const out = execFileSync('openssl', ['speed', '-evp', 'md5', '-bytes', '24', '-seconds', '1'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const match = /^md5\s+([\d.]+)k\s*$/m.exec(out);
  if (!match) throw new Error('openssl speed gave no md5 figure');
  const perSecond = (Number(match[1]) * 1000) / 24;
  return (JCEKS_MD5_ROUNDS / perSecond) * 1000;
}

/** One row of the measurement. */
export interface KeystoreOpenResult {
  readonly name: string;
  readonly runs: number;
  readonly open: Summary;
  /** OpenSSL's parse of the same file minus `openssl version` process start, when measured. */
  readonly openssl: Summary | undefined;
}

function timeProcess(args: readonly string[], runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    execFileSync('openssl', args, { stdio: 'ignore' });
    samples.push(performance.now() - start);
  }
  return samples;
}

/** Measures `openKeystore` on each fixture (`runs` times after a warm-up) and the OpenSSL baseline. */
export async function measureKeystoreOpen(runs = 200, opensslRuns = 30): Promise<KeystoreOpenResult[]> {
  const startup = summarize(timeProcess(['version'], opensslRuns)).median;
  const results: KeystoreOpenResult[] = [];
  for (const c of CASES) {
    const bytes = readFileSync(join(DIR, c.file));
    const samples = await timeAsync(() => openKeystore(bytes, c.options), runs, 10);
    let openssl: Summary | undefined;
    if (c.openssl) {
      const raw = summarize(timeProcess([...c.openssl, join(DIR, c.file)], opensslRuns));
      openssl = { ...raw, median: raw.median - startup, min: raw.min - startup, p99: raw.p99 - startup };
    }
    results.push({ name: c.name, runs, open: summarize(samples), openssl });
  }
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const fmt = (n: number) => n.toFixed(3).padStart(8);
  console.log(
    'openKeystore, ms (modules loaded)      median      min      p99 | openssl pkey median (start subtracted)',
  );
  for (const r of await measureKeystoreOpen()) {
    const base = r.openssl ? fmt(r.openssl.median) : '       -';
    console.log(`${r.name.padEnd(36)} ${fmt(r.open.median)} ${fmt(r.open.min)} ${fmt(r.open.p99)} | ${base}`);
  }
}
