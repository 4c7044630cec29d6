/**
 * The work budget of one keystore open: every key derivation (MAC, encrypted safes, keys,
 * each password form tried) spends its iterations here before it runs, so a file within
 * the per-derivation limit cannot multiply its cost with many safes, keys or retries.
 */
import { pbkdf2Sync } from 'node:crypto';
import { KeystoreError } from '../errors.ts';

/**
 * Total KDF iterations one open may spend: ten times the most keytool 17 writes for a
 * store with one key (JCEKS: 200,000 MD5 iterations per half of the key, so 400,000).
 * PKCS#12 from keytool 17 spends about 30,000 (10,000 each for MAC, certificates, key).
 */
export const KEYSTORE_WORK_BUDGET = 4_000_000;

let remaining: number | undefined;

/**
 * Charges `iterations` against the open in progress (or, outside one, against a fresh
 * budget), before the derivation runs.
 *
 * @throws KeystoreError `ERR_KEYSTORE_TOO_COSTLY` with the figure when the budget is spent.
 */
export function spendWork(iterations: number, what: string): void {
  const left = remaining ?? KEYSTORE_WORK_BUDGET;
  if (iterations > left) {
    const spent = KEYSTORE_WORK_BUDGET - left;
    throw new KeystoreError(
      'ERR_KEYSTORE_TOO_COSTLY',
      `opening the keystore would take more than ${KEYSTORE_WORK_BUDGET.toLocaleString('en-US')} key-derivation ` +
        `iterations (${spent.toLocaleString('en-US')} spent, ${iterations.toLocaleString('en-US')} more for ${what}); ` +
        're-export it with the tool defaults (keytool, or openssl pkcs12 -export)',
    );
  }
  if (remaining !== undefined) remaining = left - iterations;
}

/** Runs a synchronous open with its own budget (opens never interleave: they are synchronous). */
export function withWorkBudget<T>(work: () => T): T {
  const outer = remaining;
  remaining = KEYSTORE_WORK_BUDGET;
  try {
    return work();
  } finally {
    remaining = outer;
  }
}

/** `pbkdf2Sync`, charged to the budget first. */
export function budgetedPbkdf2(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
  digest: string,
  what: string,
): Buffer {
  spendWork(iterations * Math.ceil(length / digestSize(digest)), what);
  return pbkdf2Sync(password, salt, iterations, length, digest);
}

function digestSize(digest: string): number {
  const sizes: Readonly<Record<string, number>> = {
    sha1: 20,
    sha224: 28,
    sha256: 32,
    sha384: 48,
    sha512: 64,
  };
  return sizes[digest] ?? 32;
}
