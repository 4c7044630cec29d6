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

/**
 * SHA-1 compressions a BKS v2 store forces on an open, from its iteration counts (layout
 * in lib/keystore/bks.ts): the MAC key is one PKCS#12 KDF block at the store's count, a
 * sealed key's 3DES key two blocks and its IV one, each at the entry's count; every block
 * is one compression per iteration (the 20-byte chain) after its first hash. `forced`: the
 * MAC and the asked alias's key, what any reader must do, and what an open of that alias
 * does; `all`: the MAC and every sealed entry, what a listing (which tells each entry's kind)
 * does.
 */
export function bksCompressions(bytes: Uint8Array, alias: string): { forced: number; all: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 4;
  const u32 = (): number => {
    const value = view.getUint32(at);
    at += 4;
    return value;
  };
  const utf = (): string => {
    const length = view.getUint16(at);
    at += 2 + length;
    return Buffer.from(bytes.subarray(at - length, at)).toString('utf8');
  };
  const skip = (): void => {
    const length = u32();
    at += length;
  };
  const certificate = (): void => {
    utf();
    skip();
  };
  skip();
  const store = u32();
  let forced = store;
  let all = store;
  for (let type = bytes[at++]; type !== 0; type = bytes[at++]) {
    const name = utf();
    at += 8;
    for (let n = u32(); n > 0; n--) certificate();
    if (type === 1) certificate();
    else if (type === 4) {
      const length = u32();
      const end = at + length;
      skip();
      const sealed = 3 * u32();
      all += sealed;
      if (name === alias) forced += sealed;
      at = end;
    } else throw new Error(`bksCompressions: entry type ${String(type)} is not in the fixture's layout`);
  }
  return { forced, all };
}

/** Milliseconds per SHA-1 compression natively, from `openssl speed -evp sha1` on 20-byte inputs (one block). */
export function nativeSha1Ms(): number {
  const out = execFileSync('openssl', ['speed', '-evp', 'sha1', '-bytes', '20', '-seconds', '1'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const match = /^sha1\s+([\d.]+)k\s*$/m.exec(out);
  if (!match) throw new Error('openssl speed gave no sha1 figure');
  return 1000 / ((Number(match[1]) * 1000) / 20);
}

/** The BKS row's baseline: the format's floor for the benchmarked alias, and how it was had. */
export interface BksFloor {
  readonly ms: number;
  readonly note: string;
}

/**
 * What the BKS fixture forces for the benchmarked alias: its SHA-1 compressions at the
 * native rate, as P4-jceks takes its MD5 floor (openssl cannot read BKS, and keytool's JVM
 * start with the BouncyCastle provider swamps the open).
 */
export function bksFloor(): BksFloor {
  const bks = CASES.find((c) => c.name === 'bks rsa2048');
  if (bks?.options.alias === undefined) throw new Error('no bks case with an alias');
  const alias = bks.options.alias;
  const { forced, all } = bksCompressions(readFileSync(join(DIR, bks.file)), alias);
  return {
    ms: forced * nativeSha1Ms(),
    note:
      `baseline: the format's floor, ${forced} SHA-1 compressions (PKCS#12 KDF: the MAC key at the store's ` +
      `count, the 3DES key and IV of '${alias}' at its own) at the native rate of \`openssl speed -evp sha1 -bytes 20\`; ` +
      `the store's other sealed entries (${all - forced} compressions more) are unsealed only to list the store ` +
      '(openssl cannot read BKS; keytool needs a JVM and the BouncyCastle provider)',
  };
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
