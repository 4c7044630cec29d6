import { hash } from 'node:crypto';
import { sha1Chain, sha256Chain } from './pkcs12-hash-chain.ts';

/** Digests the PKCS#12 key derivation is used with, by Node's name. */
export type Pkcs12Digest =
  'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512' | 'sha512-224' | 'sha512-256';

/** Output length u and block length v (RFC 7292 Appendix B.2) of each digest, in bytes. */
const SIZES: Readonly<Record<Pkcs12Digest, { u: number; v: number }>> = {
  md5: { u: 16, v: 64 },
  sha1: { u: 20, v: 64 },
  sha224: { u: 28, v: 64 },
  sha256: { u: 32, v: 64 },
  sha384: { u: 48, v: 128 },
  sha512: { u: 64, v: 128 },
  'sha512-224': { u: 28, v: 128 },
  'sha512-256': { u: 32, v: 128 },
};

/** Purpose byte of the derivation (RFC 7292 Appendix B.3). */
export const KDF_KEY = 1;
export const KDF_IV = 2;
export const KDF_MAC = 3;

/** Output length of a digest, in bytes. */
export function digestLength(digest: Pkcs12Digest): number {
  return SIZES[digest].u;
}

/** `H^count(input)`: the first step native, the rest on the fixed-size digest. */
function iterate(digest: Pkcs12Digest, input: Uint8Array, count: number): Buffer {
  const first = hash(digest, input, 'buffer');
  if (digest === 'sha256') return sha256Chain(first, count - 1);
  if (digest === 'sha1') return sha1Chain(first, count - 1);
  let out = first;
  for (let i = 1; i < count; i++) out = hash(digest, out, 'buffer');
  return out;
}

/** `source` repeated to fill a multiple of `v` bytes (empty stays empty). */
function stretch(source: Uint8Array, v: number): Buffer {
  const out = Buffer.alloc(v * Math.ceil(source.length / v));
  for (let i = 0; i < out.length; i++) out[i] = source[i % source.length]!;
  return out;
}

/**
 * The PKCS#12 key derivation function.
 *
 * @param password the password as a BMPString with its two-byte terminator (RFC 7292 B.1),
 *   or empty for an absent password.
 * @param id {@link KDF_KEY}, {@link KDF_IV} or {@link KDF_MAC}.
 * @see https://www.rfc-editor.org/rfc/rfc7292#appendix-B.2
 */
export function pkcs12Kdf(
  digest: Pkcs12Digest,
  password: Uint8Array,
  salt: Uint8Array,
  id: number,
  iterations: number,
  length: number,
): Buffer {
  const { u, v } = SIZES[digest];
  const S = stretch(salt, v);
  const P = stretch(password, v);
  const block = Buffer.alloc(v + S.length + P.length);
  block.fill(id, 0, v);
  S.copy(block, v);
  P.copy(block, v + S.length);
  const I = block.subarray(v);
  const rounds = Math.ceil(length / u);
  const parts: Buffer[] = [];
  for (let round = 0; round < rounds; round++) {
    const A = iterate(digest, block, iterations);
    parts.push(A);
    if (round + 1 === rounds) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I, B being A repeated.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + A[k % u]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  return Buffer.concat(parts).subarray(0, length);
}
