import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { seal, SEAL_VERSION, unseal } from '../../lib/cache/seal.ts';

const key = new Uint8Array(randomBytes(32));
const plaintext = new TextEncoder().encode('{"accessToken":"at-secret-value"}');

describe('seal', () => {
  it('opens what it sealed under the same key and associated data', () => {
    const sealed = seal(key, 'item-1', plaintext);

    const result = unseal(key, 'item-1', sealed);

    expect(result).toEqual({ ok: true, plaintext });
    expect(sealed[0]).toBe(SEAL_VERSION);
    expect(sealed.byteLength).toBe(1 + 12 + plaintext.byteLength + 16);
  });

  it('uses a fresh IV each time, so equal tokens seal differently', () => {
    const first = Buffer.from(seal(key, 'item-1', plaintext));
    const second = Buffer.from(seal(key, 'item-1', plaintext));

    expect(first.subarray(1, 13).equals(second.subarray(1, 13))).toBe(false);
    expect(first.equals(second)).toBe(false);
  });

  it('does not open under another key', () => {
    const sealed = seal(key, 'item-1', plaintext);

    expect(unseal(new Uint8Array(randomBytes(32)), 'item-1', sealed)).toEqual({
      ok: false,
      reason: 'authentication',
    });
  });

  it('does not open when moved to another item (associated data differs)', () => {
    const sealed = seal(key, 'item-1', plaintext);

    expect(unseal(key, 'item-2', sealed)).toEqual({ ok: false, reason: 'authentication' });
  });

  it('does not open after any single byte of IV, ciphertext or tag is flipped', () => {
    const sealed = seal(key, 'item-1', plaintext);
    for (let index = 1; index < sealed.byteLength; index++) {
      const tampered = Uint8Array.from(sealed);
      tampered[index]! ^= 0x01;
      expect(unseal(key, 'item-1', tampered)).toEqual({ ok: false, reason: 'authentication' });
    }
  });

  it('refuses an unknown version byte and a truncated value', () => {
    const sealed = seal(key, 'item-1', plaintext);
    const otherVersion = Uint8Array.from(sealed);
    otherVersion[0] = SEAL_VERSION + 1;

    expect(unseal(key, 'item-1', otherVersion)).toEqual({ ok: false, reason: 'version' });
    expect(unseal(key, 'item-1', sealed.subarray(0, 28))).toEqual({ ok: false, reason: 'format' });
    expect(unseal(key, 'item-1', new Uint8Array(0))).toEqual({ ok: false, reason: 'format' });
  });

  it('rejects a key that is not 32 bytes with a TypeError naming the length', () => {
    expect(() => seal(new Uint8Array(16), 'item-1', plaintext)).toThrow(
      new TypeError('seal key must be 32 bytes, got 16'),
    );
    expect(() => unseal(new Uint8Array(31), 'item-1', plaintext)).toThrow(TypeError);
  });
});
