/**
 * Iterated MD5, `x = MD5(x || suffix)` repeated, as Sun's PBEWithMD5AndTripleDES derives
 * its key (keytool 17 writes 200,000 iterations per salt half). Each round hashes one or
 * two 64-byte blocks, so a call per round into `node:crypto` would cost far more than the
 * hashing itself; this keeps the chain in 32-bit integer arithmetic instead.
 *
 * @see https://www.rfc-editor.org/rfc/rfc1321 (MD5)
 */
import { createHash } from 'node:crypto';

/**
 * Runs the MD5 compression over every 16-word block of `m`, from the initial state, into
 * `out`. Unrolled with the RFC 1321 constants inline: it runs hundreds of thousands of
 * times per key, and the unrolled form is several times faster than a table-driven loop.
 */
function md5Words(m: Int32Array, out: Int32Array): void {
  let h0 = 0x67452301,
    h1 = 0xefcdab89 | 0,
    h2 = 0x98badcfe | 0,
    h3 = 0x10325476;
  for (let blk = 0; blk < m.length; blk += 16) {
    const m0 = m[blk]!,
      m1 = m[blk + 1]!,
      m2 = m[blk + 2]!,
      m3 = m[blk + 3]!;
    const m4 = m[blk + 4]!,
      m5 = m[blk + 5]!,
      m6 = m[blk + 6]!,
      m7 = m[blk + 7]!;
    const m8 = m[blk + 8]!,
      m9 = m[blk + 9]!,
      m10 = m[blk + 10]!,
      m11 = m[blk + 11]!;
    const m12 = m[blk + 12]!,
      m13 = m[blk + 13]!,
      m14 = m[blk + 14]!,
      m15 = m[blk + 15]!;
    let a = h0,
      b = h1,
      c = h2,
      d = h3,
      x: number;
    x = (a + ((b & c) | (~b & d)) + -680876936 + m0) | 0;
    a = (b + ((x << 7) | (x >>> 25))) | 0;
    x = (d + ((a & b) | (~a & c)) + -389564586 + m1) | 0;
    d = (a + ((x << 12) | (x >>> 20))) | 0;
    x = (c + ((d & a) | (~d & b)) + 606105819 + m2) | 0;
    c = (d + ((x << 17) | (x >>> 15))) | 0;
    x = (b + ((c & d) | (~c & a)) + -1044525330 + m3) | 0;
    b = (c + ((x << 22) | (x >>> 10))) | 0;
    x = (a + ((b & c) | (~b & d)) + -176418897 + m4) | 0;
    a = (b + ((x << 7) | (x >>> 25))) | 0;
    x = (d + ((a & b) | (~a & c)) + 1200080426 + m5) | 0;
    d = (a + ((x << 12) | (x >>> 20))) | 0;
    x = (c + ((d & a) | (~d & b)) + -1473231341 + m6) | 0;
    c = (d + ((x << 17) | (x >>> 15))) | 0;
    x = (b + ((c & d) | (~c & a)) + -45705983 + m7) | 0;
    b = (c + ((x << 22) | (x >>> 10))) | 0;
    x = (a + ((b & c) | (~b & d)) + 1770035416 + m8) | 0;
    a = (b + ((x << 7) | (x >>> 25))) | 0;
    x = (d + ((a & b) | (~a & c)) + -1958414417 + m9) | 0;
    d = (a + ((x << 12) | (x >>> 20))) | 0;
    x = (c + ((d & a) | (~d & b)) + -42063 + m10) | 0;
    c = (d + ((x << 17) | (x >>> 15))) | 0;
    x = (b + ((c & d) | (~c & a)) + -1990404162 + m11) | 0;
    b = (c + ((x << 22) | (x >>> 10))) | 0;
    x = (a + ((b & c) | (~b & d)) + 1804603682 + m12) | 0;
    a = (b + ((x << 7) | (x >>> 25))) | 0;
    x = (d + ((a & b) | (~a & c)) + -40341101 + m13) | 0;
    d = (a + ((x << 12) | (x >>> 20))) | 0;
    x = (c + ((d & a) | (~d & b)) + -1502002290 + m14) | 0;
    c = (d + ((x << 17) | (x >>> 15))) | 0;
    x = (b + ((c & d) | (~c & a)) + 1236535329 + m15) | 0;
    b = (c + ((x << 22) | (x >>> 10))) | 0;
    x = (a + ((d & b) | (~d & c)) + -165796510 + m1) | 0;
    a = (b + ((x << 5) | (x >>> 27))) | 0;
    x = (d + ((c & a) | (~c & b)) + -1069501632 + m6) | 0;
    d = (a + ((x << 9) | (x >>> 23))) | 0;
    x = (c + ((b & d) | (~b & a)) + 643717713 + m11) | 0;
    c = (d + ((x << 14) | (x >>> 18))) | 0;
    x = (b + ((a & c) | (~a & d)) + -373897302 + m0) | 0;
    b = (c + ((x << 20) | (x >>> 12))) | 0;
    x = (a + ((d & b) | (~d & c)) + -701558691 + m5) | 0;
    a = (b + ((x << 5) | (x >>> 27))) | 0;
    x = (d + ((c & a) | (~c & b)) + 38016083 + m10) | 0;
    d = (a + ((x << 9) | (x >>> 23))) | 0;
    x = (c + ((b & d) | (~b & a)) + -660478335 + m15) | 0;
    c = (d + ((x << 14) | (x >>> 18))) | 0;
    x = (b + ((a & c) | (~a & d)) + -405537848 + m4) | 0;
    b = (c + ((x << 20) | (x >>> 12))) | 0;
    x = (a + ((d & b) | (~d & c)) + 568446438 + m9) | 0;
    a = (b + ((x << 5) | (x >>> 27))) | 0;
    x = (d + ((c & a) | (~c & b)) + -1019803690 + m14) | 0;
    d = (a + ((x << 9) | (x >>> 23))) | 0;
    x = (c + ((b & d) | (~b & a)) + -187363961 + m3) | 0;
    c = (d + ((x << 14) | (x >>> 18))) | 0;
    x = (b + ((a & c) | (~a & d)) + 1163531501 + m8) | 0;
    b = (c + ((x << 20) | (x >>> 12))) | 0;
    x = (a + ((d & b) | (~d & c)) + -1444681467 + m13) | 0;
    a = (b + ((x << 5) | (x >>> 27))) | 0;
    x = (d + ((c & a) | (~c & b)) + -51403784 + m2) | 0;
    d = (a + ((x << 9) | (x >>> 23))) | 0;
    x = (c + ((b & d) | (~b & a)) + 1735328473 + m7) | 0;
    c = (d + ((x << 14) | (x >>> 18))) | 0;
    x = (b + ((a & c) | (~a & d)) + -1926607734 + m12) | 0;
    b = (c + ((x << 20) | (x >>> 12))) | 0;
    x = (a + (b ^ c ^ d) + -378558 + m5) | 0;
    a = (b + ((x << 4) | (x >>> 28))) | 0;
    x = (d + (a ^ b ^ c) + -2022574463 + m8) | 0;
    d = (a + ((x << 11) | (x >>> 21))) | 0;
    x = (c + (d ^ a ^ b) + 1839030562 + m11) | 0;
    c = (d + ((x << 16) | (x >>> 16))) | 0;
    x = (b + (c ^ d ^ a) + -35309556 + m14) | 0;
    b = (c + ((x << 23) | (x >>> 9))) | 0;
    x = (a + (b ^ c ^ d) + -1530992060 + m1) | 0;
    a = (b + ((x << 4) | (x >>> 28))) | 0;
    x = (d + (a ^ b ^ c) + 1272893353 + m4) | 0;
    d = (a + ((x << 11) | (x >>> 21))) | 0;
    x = (c + (d ^ a ^ b) + -155497632 + m7) | 0;
    c = (d + ((x << 16) | (x >>> 16))) | 0;
    x = (b + (c ^ d ^ a) + -1094730640 + m10) | 0;
    b = (c + ((x << 23) | (x >>> 9))) | 0;
    x = (a + (b ^ c ^ d) + 681279174 + m13) | 0;
    a = (b + ((x << 4) | (x >>> 28))) | 0;
    x = (d + (a ^ b ^ c) + -358537222 + m0) | 0;
    d = (a + ((x << 11) | (x >>> 21))) | 0;
    x = (c + (d ^ a ^ b) + -722521979 + m3) | 0;
    c = (d + ((x << 16) | (x >>> 16))) | 0;
    x = (b + (c ^ d ^ a) + 76029189 + m6) | 0;
    b = (c + ((x << 23) | (x >>> 9))) | 0;
    x = (a + (b ^ c ^ d) + -640364487 + m9) | 0;
    a = (b + ((x << 4) | (x >>> 28))) | 0;
    x = (d + (a ^ b ^ c) + -421815835 + m12) | 0;
    d = (a + ((x << 11) | (x >>> 21))) | 0;
    x = (c + (d ^ a ^ b) + 530742520 + m15) | 0;
    c = (d + ((x << 16) | (x >>> 16))) | 0;
    x = (b + (c ^ d ^ a) + -995338651 + m2) | 0;
    b = (c + ((x << 23) | (x >>> 9))) | 0;
    x = (a + (c ^ (b | ~d)) + -198630844 + m0) | 0;
    a = (b + ((x << 6) | (x >>> 26))) | 0;
    x = (d + (b ^ (a | ~c)) + 1126891415 + m7) | 0;
    d = (a + ((x << 10) | (x >>> 22))) | 0;
    x = (c + (a ^ (d | ~b)) + -1416354905 + m14) | 0;
    c = (d + ((x << 15) | (x >>> 17))) | 0;
    x = (b + (d ^ (c | ~a)) + -57434055 + m5) | 0;
    b = (c + ((x << 21) | (x >>> 11))) | 0;
    x = (a + (c ^ (b | ~d)) + 1700485571 + m12) | 0;
    a = (b + ((x << 6) | (x >>> 26))) | 0;
    x = (d + (b ^ (a | ~c)) + -1894986606 + m3) | 0;
    d = (a + ((x << 10) | (x >>> 22))) | 0;
    x = (c + (a ^ (d | ~b)) + -1051523 + m10) | 0;
    c = (d + ((x << 15) | (x >>> 17))) | 0;
    x = (b + (d ^ (c | ~a)) + -2054922799 + m1) | 0;
    b = (c + ((x << 21) | (x >>> 11))) | 0;
    x = (a + (c ^ (b | ~d)) + 1873313359 + m8) | 0;
    a = (b + ((x << 6) | (x >>> 26))) | 0;
    x = (d + (b ^ (a | ~c)) + -30611744 + m15) | 0;
    d = (a + ((x << 10) | (x >>> 22))) | 0;
    x = (c + (a ^ (d | ~b)) + -1560198380 + m6) | 0;
    c = (d + ((x << 15) | (x >>> 17))) | 0;
    x = (b + (d ^ (c | ~a)) + 1309151649 + m13) | 0;
    b = (c + ((x << 21) | (x >>> 11))) | 0;
    x = (a + (c ^ (b | ~d)) + -145523070 + m4) | 0;
    a = (b + ((x << 6) | (x >>> 26))) | 0;
    x = (d + (b ^ (a | ~c)) + -1120210379 + m11) | 0;
    d = (a + ((x << 10) | (x >>> 22))) | 0;
    x = (c + (a ^ (d | ~b)) + 718787259 + m2) | 0;
    c = (d + ((x << 15) | (x >>> 17))) | 0;
    x = (b + (d ^ (c | ~a)) + -343485551 + m9) | 0;
    b = (c + ((x << 21) | (x >>> 11))) | 0;
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
  }
  out[0] = h0;
  out[1] = h1;
  out[2] = h2;
  out[3] = h3;
}

/**
 * Returns `x` after `iterations` rounds of `x = MD5(x || suffix)`, starting from `first`.
 * With zero iterations, `first` itself (copied).
 */
export function iteratedMd5(first: Uint8Array, suffix: Uint8Array, iterations: number): Uint8Array {
  if (iterations <= 0) return Uint8Array.from(first);
  const digest = createHash('md5').update(first).update(suffix).digest();
  if (iterations === 1) return new Uint8Array(digest);

  // From round 2 on, the message is the previous digest (16 bytes) and the fixed suffix:
  // pad it once, then only its first four little-endian words change per round.
  const len = 16 + suffix.length;
  const blocks = Math.ceil((len + 9) / 64);
  const msg = new Uint8Array(blocks * 64);
  msg.set(suffix, 16);
  msg[len] = 0x80;
  const bits = len * 8;
  const lenAt = msg.length - 8;
  msg[lenAt] = bits & 0xff;
  msg[lenAt + 1] = (bits >>> 8) & 0xff;
  msg[lenAt + 2] = (bits >>> 16) & 0xff;
  msg[lenAt + 3] = (bits >>> 24) & 0xff;
  const m = new Int32Array(blocks * 16);
  const view = new DataView(msg.buffer);
  for (let i = 0; i < m.length; i++) m[i] = view.getInt32(i * 4, true);
  const state = new Int32Array(4);
  const dv = new DataView(digest.buffer, digest.byteOffset, 16);
  for (let i = 0; i < 4; i++) state[i] = dv.getInt32(i * 4, true);

  for (let r = 1; r < iterations; r++) {
    m[0] = state[0]!;
    m[1] = state[1]!;
    m[2] = state[2]!;
    m[3] = state[3]!;
    md5Words(m, state);
  }
  msg.fill(0);
  m.fill(0);
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) ov.setInt32(i * 4, state[i]!, true);
  return out;
}
