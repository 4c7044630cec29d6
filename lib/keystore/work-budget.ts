/**
 * The work of one keystore open: every key derivation (MAC, encrypted safes, keys, each
 * password form tried) is charged to a budget before it runs, and the costly ones run off
 * the event loop.
 *
 * The parsers stay synchronous: {@link derive} answers from the open's results, runs a
 * cheap derivation at once, and for a costly one stops the pass with a pending request.
 * {@link runOpen} then computes it off the loop (`crypto.pbkdf2`, or the worker pool) and
 * runs the pass again, which now finds the result. Passes repeat only parsing, which costs
 * microseconds next to a derivation; each derivation runs once per open. A parser that knows
 * early which costly derivation it will need can {@link prefetch} it: it then runs off the
 * loop while the pass does its cheap ones on the loop.
 */
import { createHash } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { type Derivation, computeDerivation, derivationCost } from './derivation.ts';
import { deriveOffLoop } from './kdf-pool.ts';
import type { Pkcs12Digest } from './pkcs12-kdf.ts';

/**
 * Total KDF iterations one open may spend: ten times the most keytool 17 writes for a
 * store with one key (JCEKS: 200,000 MD5 rounds for each half of the key, so 400,000).
 * PKCS#12 from keytool 17 spends about 30,000 (10,000 each for MAC, certificates, key).
 */
export const KEYSTORE_WORK_BUDGET = 6_000_000;

/** Derivations up to this cost run at once (about a millisecond); larger ones off the loop. */
export const INLINE_DERIVATION_COST = 2_048;

interface OpenWork {
  readonly results: Map<string, Buffer>;
  /** Prefetched derivations still running, already charged. */
  readonly running: Map<string, Promise<Buffer>>;
  spent: number;
}

/** A costly derivation the pass needs; caught by {@link runOpen}, never seen outside. */
class PendingDerivation extends Error {
  override readonly name = 'PendingDerivation';
  constructor(
    readonly derivation: Derivation,
    readonly key: string,
    readonly cost: number,
  ) {
    super('a key derivation is pending');
  }
}

let current: OpenWork | undefined;
let computed = 0;

/** Derivations computed by this process so far (all opens), for diagnostics and tests. */
export function derivationsComputed(): number {
  return computed;
}

/**
 * Checks that `cost` more iterations fit the open's budget, without spending them: for a
 * format that will need several derivations, so it is refused before the first.
 *
 * @throws KeystoreError `ERR_KEYSTORE_TOO_COSTLY` with the figure.
 */
export function checkWork(cost: number, what: string): void {
  const spent = current?.spent ?? 0;
  if (spent + cost > KEYSTORE_WORK_BUDGET) throw tooCostly(spent, cost, what);
}

function tooCostly(spent: number, cost: number, what: string): KeystoreError {
  const figure = (n: number): string => n.toLocaleString('en-US');
  return new KeystoreError(
    'ERR_KEYSTORE_TOO_COSTLY',
    `opening the keystore would take more than ${figure(KEYSTORE_WORK_BUDGET)} key-derivation iterations ` +
      `(${figure(spent)} spent, ${figure(cost)} more for ${what}); ` +
      're-export it with the tool defaults (keytool, or openssl pkcs12 -export)',
  );
}

function keyOf(derivation: Derivation): string {
  const hash = createHash('sha256');
  for (const [name, value] of Object.entries(derivation)) {
    const bytes = value instanceof Uint8Array ? value : Buffer.from(String(value));
    hash.update(`${name}:${bytes.length}:`).update(bytes);
  }
  return hash.digest('hex');
}

/**
 * A derivation's result. Within {@link runOpen}, charged to the open's budget and computed
 * once; outside one (a parser called directly), computed here against a fresh budget.
 *
 * @throws KeystoreError `ERR_KEYSTORE_TOO_COSTLY` with the figure, before any derivation.
 */
export function derive(derivation: Derivation, what: string): Buffer {
  const cost = derivationCost(derivation);
  const work = current;
  if (!work) {
    if (cost > KEYSTORE_WORK_BUDGET) throw tooCostly(0, cost, what);
    computed++;
    return computeDerivation(derivation);
  }
  const key = keyOf(derivation);
  const known = work.results.get(key);
  if (known) return Buffer.from(known);
  if (work.running.has(key)) throw new PendingDerivation(derivation, key, 0);
  if (work.spent + cost > KEYSTORE_WORK_BUDGET) throw tooCostly(work.spent, cost, what);
  if (cost > INLINE_DERIVATION_COST) throw new PendingDerivation(derivation, key, cost);
  work.spent += cost;
  computed++;
  const result = computeDerivation(derivation);
  work.results.set(key, Buffer.from(result));
  return result;
}

/**
 * Starts a costly derivation off the event loop now, charged to the open's budget, for a
 * {@link derive} of it later in the pass; the cheap work between runs on the loop meanwhile.
 * Does nothing outside {@link runOpen}, for a derivation cheap enough to run at once, one
 * already known or running, or one past the budget (whose {@link derive} reports it).
 */
export function prefetch(derivation: Derivation): void {
  const work = current;
  const cost = derivationCost(derivation);
  if (!work || cost <= INLINE_DERIVATION_COST || work.spent + cost > KEYSTORE_WORK_BUDGET) return;
  const key = keyOf(derivation);
  if (work.results.has(key) || work.running.has(key)) return;
  work.spent += cost;
  computed++;
  const running = deriveOffLoop(derivation);
  // A pass that fails before it needs the result never awaits it.
  running.catch(() => undefined);
  work.running.set(key, running);
}

/** Lets a pending derivation through a `catch` that would otherwise turn it into an error. */
export function rethrowPending(error: unknown): void {
  if (error instanceof PendingDerivation) throw error;
}

/**
 * Runs a synchronous open, its costly derivations off the event loop, within one budget.
 *
 * @throws KeystoreError `ERR_KEYSTORE_TOO_COSTLY`, and whatever `work` throws.
 */
export async function runOpen<T>(work: () => T): Promise<T> {
  const open: OpenWork = { results: new Map(), running: new Map(), spent: 0 };
  for (;;) {
    let pending: PendingDerivation;
    const outer = current;
    current = open;
    try {
      return work();
    } catch (error) {
      if (!(error instanceof PendingDerivation)) throw error;
      pending = error;
    } finally {
      current = outer;
    }
    const running = open.running.get(pending.key);
    if (running) {
      open.results.set(pending.key, await running);
      open.running.delete(pending.key);
      continue;
    }
    open.spent += pending.cost;
    computed++;
    open.results.set(pending.key, await deriveOffLoop(pending.derivation));
  }
}

/** PBKDF2 through {@link derive}. */
export function derivePbkdf2(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
  digest: string,
  what: string,
): Buffer {
  return derive({ kind: 'pbkdf2', password, salt, iterations, length, digest }, what);
}

/** The PKCS#12 KDF (RFC 7292 Appendix B.2) through {@link derive}. */
export function derivePkcs12(
  digest: Pkcs12Digest,
  password: Uint8Array,
  salt: Uint8Array,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  return derive(
    { kind: 'pkcs12', digest, password, salt, id, iterations, length },
    `a PKCS#12 key derivation (${iterations.toLocaleString('en-US')} iterations)`,
  );
}

/** {@link prefetch} of {@link derivePkcs12}. */
export function prefetchPkcs12(
  digest: Pkcs12Digest,
  password: Uint8Array,
  salt: Uint8Array,
  id: number,
  iterations: number,
  length: number,
): void {
  prefetch({ kind: 'pkcs12', digest, password, salt, id, iterations, length });
}
