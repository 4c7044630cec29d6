/**
 * Bounded keystore work: the per-open budget, the memory of failed opens, and key
 * derivation off the event loop.
 */
import { describe, expect, it } from 'vitest';
import { FailedOpens } from '../../lib/keystore/failed-opens.ts';
import { KEYSTORE_WORK_BUDGET, createKeystoreOpener, openKeystore } from '../../lib/keystore/index.ts';
import { computeDerivation } from '../../lib/keystore/derivation.ts';
import type { Derivation } from '../../lib/keystore/derivation.ts';
import {
  INLINE_DERIVATION_COST,
  derivationsComputed,
  derive,
  prefetch,
  runOpen,
} from '../../lib/keystore/work-budget.ts';
import { fixture, rejection } from './helpers.ts';

const PASSWORD = 'changeit';

describe('work budget', () => {
  it('is ten times a keytool 17 JCEKS open, and above the per-derivation limit', () => {
    expect(KEYSTORE_WORK_BUDGET).toBe(6_000_000);
  });

  it('refuses a JCEKS whose key needs 2 x 5,000,000 MD5 rounds before deriving anything', async () => {
    const before = derivationsComputed();
    const err = await rejection(openKeystore(fixture('lt-jceks-costly.jceks'), { password: PASSWORD }));
    expect(err.code).toBe('ERR_KEYSTORE_TOO_COSTLY');
    expect(err.message).toBe(
      'opening the keystore would take more than 6,000,000 key-derivation iterations (0 spent, 10,000,000 more ' +
        'for the JCEKS key of alias "signer"); re-export it with the tool defaults (keytool, or openssl pkcs12 -export)',
    );
    expect(derivationsComputed()).toBe(before);
  });

  it('adds up MAC, certificate safe and key: 3 x 2,100,000 iterations is refused at the key', async () => {
    const err = await rejection(openKeystore(fixture('lt-p12-overbudget.p12'), { password: PASSWORD }));
    expect(err.code).toBe('ERR_KEYSTORE_TOO_COSTLY');
    expect(err.message).toBe(
      'opening the keystore would take more than 6,000,000 key-derivation iterations (4,200,000 spent, ' +
        '2,100,000 more for private key PBKDF2); re-export it with the tool defaults (keytool, or openssl pkcs12 -export)',
    );
  }, 120_000);
});

describe('failed opens', () => {
  it('runs the key derivation once for a wrong password asked 10 times, with the same error each time', async () => {
    const opener = createKeystoreOpener();
    const bytes = fixture('java-rsa2048.jceks');
    const before = derivationsComputed();
    const errors = [];
    for (let i = 0; i < 10; i++)
      errors.push(await rejection(opener.openKeystore(bytes, { password: 'wrong' })));
    // The JCEKS digest is SHA-1 (no KDF); the wrong password is told by trying the key: two MD5 halves.
    expect(derivationsComputed() - before).toBe(2);
    for (const err of errors) {
      expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
      expect(err.message).toBe('wrong keystore password (or the file was altered); check certPassword');
    }
  });

  it('runs the PKCS#12 MAC derivation once for a wrong password asked 10 times', async () => {
    const opener = createKeystoreOpener();
    const bytes = fixture('p12-keytool-rsa2048.p12');
    const before = derivationsComputed();
    await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
    const once = derivationsComputed() - before;
    expect(once).toBeGreaterThan(0);
    for (let i = 0; i < 9; i++) {
      const err = await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
      expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
    }
    expect(derivationsComputed() - before).toBe(once);
  });

  it('forgets a failure after 30 s, and never applies it to another password or other bytes', async () => {
    let now = 1_000_000;
    const opener = createKeystoreOpener({ failedOpens: new FailedOpens({ now: () => now }) });
    const bytes = fixture('p12-openssl-rsa2048.p12');
    await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
    const before = derivationsComputed();
    await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
    expect(derivationsComputed()).toBe(before);
    // the right password (a new password) opens at once
    expect((await opener.openKeystore(bytes, { password: PASSWORD })).alias).toBe('signer');
    // a new version of the secret (other bytes) is a new open
    const other = Buffer.concat([bytes]);
    other[other.length - 1] ^= 1;
    const altered = await rejection(opener.openKeystore(other, { password: 'wrong' }));
    expect(altered.code).toBe('ERR_KEYSTORE_PASSWORD');
    now += 29_999;
    const stillKnown = derivationsComputed();
    await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
    expect(derivationsComputed()).toBe(stillKnown);
    now += 1;
    const err = await rejection(opener.openKeystore(bytes, { password: 'wrong' }));
    expect(derivationsComputed()).toBeGreaterThan(stillKnown);
    expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
    expect(err.message).toBe('wrong keystore password (or the file was altered); check certPassword');
  });
});

/** Runs `work` while a 5 ms interval measures how late the event loop lets it tick; the worst gap, ms. */
async function worstTickGap<T>(work: () => Promise<T>): Promise<{ result: T; gap: number; ticks: number }> {
  let last = performance.now();
  let gap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
    ticks++;
  }, 5);
  await new Promise((resolve) => setTimeout(resolve, 20));
  try {
    const result = await work();
    return { result, gap: Math.max(gap, performance.now() - last), ticks };
  } finally {
    clearInterval(timer);
  }
}

describe('derivation off the event loop', () => {
  it('keeps the event loop free while a JCEKS key (2 x 200,000 MD5 rounds) opens', async () => {
    const bytes = fixture('java-rsa2048.jceks');
    await createKeystoreOpener().openKeystore(bytes, { password: PASSWORD }); // the worker pool has started
    let took = 0;
    const { result, gap, ticks } = await worstTickGap(async () => {
      const start = performance.now();
      const opened = await createKeystoreOpener().openKeystore(bytes, { password: PASSWORD });
      took = performance.now() - start;
      return opened;
    });
    expect(result.alias).toBe('signer');
    expect(ticks).toBeGreaterThan(2);
    // On the loop, each half's 200,000 rounds hold it in one stretch (half the open); off
    // it, no stretch comes near that, however slow a loaded machine makes both. The 50 ms
    // bound /health needs is tested on serve (test/server/health-during-open.test.ts).
    expect(gap).toBeLessThan(took / 3);
  });
});

describe('prefetch', () => {
  const costly: Derivation = {
    kind: 'hash-chain',
    digest: 'sha1',
    input: Buffer.from('prefetched'),
    iterations: INLINE_DERIVATION_COST + 1,
  };

  it('runs a costly derivation once, off the loop, for the derive that follows in the open', async () => {
    const before = derivationsComputed();
    const started: number[] = [];
    const result = await runOpen(() => {
      prefetch(costly);
      // Started by the prefetch already, before the pass asks for it.
      started.push(derivationsComputed() - before);
      return derive(costly, 'the test chain');
    });
    expect(started[0]).toBe(1);
    expect(result).toEqual(computeDerivation(costly));
    expect(derivationsComputed() - before).toBe(1);
  });

  it('does nothing outside an open, or for a derivation cheap enough to run at once', async () => {
    const before = derivationsComputed();
    prefetch(costly);
    await runOpen(() => prefetch({ ...costly, iterations: INLINE_DERIVATION_COST }));
    expect(derivationsComputed()).toBe(before);
  });
});
