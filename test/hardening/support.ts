/**
 * Shared pieces of the hardening suite: fixtures and their manifests, a capturing logger,
 * fuzz settings and the suite's tally. The scripted token endpoint is test/support/fault-server.ts.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerError } from '../../lib/errors.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { manifestRows } from '../support/keystore-manifests.ts';

export { KEYSTORE_FIXTURES };

export { manifestRows };

/** Every password and key password the manifests name (the secrets a leak scan looks for). */
export function manifestPasswords(): string[] {
  const all = manifestRows().flatMap((row) => [row.password, row.keyPassword]);
  // Wrong passwords the manifests try on purpose are secrets too; an empty one matches everything.
  return [...new Set(all.filter((p): p is string => typeof p === 'string' && p.length >= 4))];
}

/** A fixture's bytes. */
export function fixture(name: string): Buffer {
  return readFileSync(join(KEYSTORE_FIXTURES, name));
}

/** A fixture's absolute path. */
export function fixturePath(name: string): string {
  return join(KEYSTORE_FIXTURES, name);
}

/** Runs `fn` and returns the BrokerError it rejects with; fails on anything else. */
export async function rejection(fn: () => unknown): Promise<BrokerError> {
  let outcome: unknown;
  try {
    await fn();
  } catch (err) {
    outcome = err;
    if (err instanceof BrokerError) return err;
  }
  const what = outcome === undefined ? 'nothing was thrown' : `got ${String(outcome)}`;
  throw new Error(`expected a BrokerError, ${what}`, { cause: outcome });
}

/** One captured log line. */
export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
}

/** A logger that keeps every line, and the lines as text for scans. */
export function capturingLogger(): Logger & { readonly lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (message: string, fields: LogFields = {}): void =>
      void lines.push({ level, message, fields });
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    text: () => lines.map((line) => JSON.stringify(line)).join('\n'),
  };
}

/** Fuzz settings: a fixed seed unless `FUZZ_SEED` is set; `FUZZ_RUNS` runs longer. */
export const FUZZ_SEED = Number(process.env['FUZZ_SEED'] ?? 0x7b_2026);
export const FUZZ_RUNS = Math.max(10_000, Number(process.env['FUZZ_RUNS'] ?? 10_000));

/** What one file of the suite ran. */
export interface Tally {
  badInputs: number;
  fuzzCases: number;
  faults: number;
}

/** The files of the suite that report a tally; the last one to finish prints the summary. */
export const TALLY_FILES = ['corpus', 'fuzz', 'faults', 'leak-scan', 'isolation'] as const;

/**
 * Records this file's tally for the run (vitest's forks share the parent process id) and,
 * once every file has reported, prints `hardening: N bad inputs, M fuzz cases, K faults`.
 */
export function reportTally(file: (typeof TALLY_FILES)[number], tally: Tally): void {
  const dir = join(tmpdir(), `token-broker-hardening-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${file}.json`), JSON.stringify(tally));
  const reported = readdirSync(dir).filter((name) => name.endsWith('.json'));
  if (!TALLY_FILES.every((name) => reported.includes(`${name}.json`))) return;
  const sum: Tally = { badInputs: 0, fuzzCases: 0, faults: 0 };
  for (const name of TALLY_FILES) {
    const part = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Tally;
    sum.badInputs += part.badInputs;
    sum.fuzzCases += part.fuzzCases;
    sum.faults += part.faults;
  }
  console.log(`hardening: ${sum.badInputs} bad inputs, ${sum.fuzzCases} fuzz cases, ${sum.faults} faults`);
}
