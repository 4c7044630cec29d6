import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bksCompressions } from '../../bench/keystore-open.ts';

const FIXTURE = readFileSync(join(import.meta.dirname, '../fixtures/keystores/lt-bks.bks'));

describe('P4-bks floor', () => {
  it('counts the SHA-1 compressions the BKS fixture forces from its iteration counts', () => {
    // The fixture's counts: the store 1423; the sealed entries secret 1430, second 2007, signer 1876.
    // A sealed key costs three KDF blocks (24-byte 3DES key: two, 8-byte IV: one), the MAC key one.
    expect(bksCompressions(FIXTURE, 'signer')).toEqual({
      forced: 1423 + 3 * 1876,
      all: 1423 + 3 * (1430 + 2007 + 1876),
    });
    expect(bksCompressions(FIXTURE, 'second').forced).toBe(1423 + 3 * 2007);
    expect(bksCompressions(FIXTURE, 'ca').forced).toBe(1423);
  });

  it('refuses an entry type the fixture does not have rather than guessing its layout', () => {
    const broken = Buffer.from(FIXTURE);
    broken[8 + 20 + 4] = 3;
    expect(() => bksCompressions(broken, 'signer')).toThrow(
      'bksCompressions: entry type 3 is not in the fixture',
    );
  });
});
