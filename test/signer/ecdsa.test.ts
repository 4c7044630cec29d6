import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { derToJose, ECDSA_INTEGER_BYTES } from '../../lib/signer/ecdsa.ts';

const CURVES = [
  { alg: 'ES256', curve: 'P-256', hash: 'sha256' },
  { alg: 'ES384', curve: 'P-384', hash: 'sha384' },
  { alg: 'ES512', curve: 'P-521', hash: 'sha512' },
] as const;

describe('DER to JOSE ECDSA signatures', () => {
  for (const { alg, curve, hash } of CURVES) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const size = ECDSA_INTEGER_BYTES[alg];
    it(`converts every DER ${alg} signature into r || s that node:crypto verifies`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 512 }), (message) => {
          const der = sign(hash, message, privateKey);
          const jose = derToJose(der, size);
          expect(jose.length).toBe(2 * size);
          expect(verify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
          // The same signature, still DER: the conversion kept both integers.
          expect(verify(hash, message, publicKey, der)).toBe(true);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('places short integers right-aligned (leading zero octets and sign octets handled)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        fc.uint8Array({ minLength: 1, maxLength: 32 }),
        (r, s) => {
          const integer = (v: Uint8Array) => {
            const body = (v[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), v]) : Buffer.from(v);
            return Buffer.concat([Buffer.from([0x02, body.length]), body]);
          };
          const content = Buffer.concat([integer(r), integer(s)]);
          const der = Buffer.concat([Buffer.from([0x30, content.length]), content]);
          const jose = Buffer.from(derToJose(der, 32));
          expect(jose.subarray(32 - r.length, 32)).toEqual(Buffer.from(r));
          expect(jose.subarray(64 - s.length)).toEqual(Buffer.from(s));
          expect(jose.subarray(0, 32 - r.length).every((b) => b === 0)).toBe(true);
        },
      ),
    );
  });

  it.each([
    ['not a SEQUENCE', Buffer.from([0x02, 0x01, 0x01])],
    ['trailing bytes', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00])],
    ['a negative integer', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01])],
    [
      'an integer longer than the curve',
      Buffer.concat([
        Buffer.from([0x30, 0x25, 0x02, 0x21, 0x01]),
        Buffer.alloc(32, 1),
        Buffer.from([0x02, 0x01, 0x01]),
      ]),
    ],
  ])('rejects %s with a TypeError', (_, der) => {
    expect(() => derToJose(der, 32)).toThrow(TypeError);
  });

  it('is what node:crypto itself produces in ieee-p1363 form', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = createPublicKey(privateKey);
    const message = Buffer.from('payload');
    const jose = derToJose(sign('sha256', message, privateKey), 32);
    expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(true);
  });
});
