/**
 * The little DER the Java keystores need: the `EncryptedPrivateKeyInfo` around each
 * private key, its PBE parameters, and a shape check of a decrypted PKCS#8 structure.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5208#section-6 (EncryptedPrivateKeyInfo)
 * @see https://www.rfc-editor.org/rfc/rfc8018#appendix-A.3 (PBEParameter)
 */

/** The DER is malformed; `message` says where, never the bytes. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OCTET_STRING = 0x04;
const OID = 0x06;

/** One tag-length-value: the content is `bytes[start, end)`. */
interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function tlv(b: Uint8Array, at: number, limit: number, what: string): Tlv {
  if (at + 2 > limit) throw new DerError(`${what} is truncated`);
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new DerError(`${what} has a bad length`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  if (start + len > limit) throw new DerError(`${what} is truncated`);
  return { tag, start, end: start + len };
}

function expect(b: Uint8Array, at: number, limit: number, tag: number, what: string): Tlv {
  const t = tlv(b, at, limit, what);
  if (t.tag !== tag) throw new DerError(`${what} has an unexpected type`);
  return t;
}

function oidString(b: Uint8Array, t: Tlv): string {
  const arcs: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/** A parsed `EncryptedPrivateKeyInfo`. */
export interface EncryptedPrivateKeyInfo {
  /** Protection algorithm OID, dotted. */
  readonly algorithm: string;
  /** DER of the algorithm parameters (empty when absent). */
  readonly parameters: Uint8Array;
  /** The encrypted key. */
  readonly encryptedData: Uint8Array;
}

/** Parses `SEQUENCE { SEQUENCE { OID, params ANY OPTIONAL }, OCTET STRING }`. */
export function parseEncryptedPrivateKeyInfo(b: Uint8Array): EncryptedPrivateKeyInfo {
  const what = 'the encrypted private key';
  const outer = expect(b, 0, b.length, SEQUENCE, what);
  const algId = expect(b, outer.start, outer.end, SEQUENCE, `${what}'s algorithm`);
  const oid = expect(b, algId.start, algId.end, OID, `${what}'s algorithm`);
  const data = expect(b, algId.end, outer.end, OCTET_STRING, `${what}'s data`);
  return {
    algorithm: oidString(b, oid),
    parameters: b.subarray(oid.end, algId.end),
    encryptedData: b.subarray(data.start, data.end),
  };
}

/** Parses a PKCS#5 `PBEParameter`: `SEQUENCE { salt OCTET STRING, iterationCount INTEGER }`. */
export function parsePbeParameter(b: Uint8Array): { salt: Uint8Array; iterations: number } {
  const what = 'the key protection parameters';
  const seq = expect(b, 0, b.length, SEQUENCE, what);
  const salt = expect(b, seq.start, seq.end, OCTET_STRING, `${what}' salt`);
  const count = expect(b, salt.end, seq.end, INTEGER, `${what}' iteration count`);
  if (count.end - count.start > 6 || count.end === count.start || b[count.start]! & 0x80) {
    throw new DerError(`${what}' iteration count is out of range`);
  }
  let iterations = 0;
  for (let i = count.start; i < count.end; i++) iterations = iterations * 256 + b[i]!;
  return { salt: b.subarray(salt.start, salt.end), iterations };
}

/**
 * True when `b` is exactly one DER `SEQUENCE { INTEGER, SEQUENCE, OCTET STRING, ... }`,
 * the shape of a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5, RFC 5958 §2).
 */
export function looksLikePkcs8(b: Uint8Array): boolean {
  try {
    const seq = expect(b, 0, b.length, SEQUENCE, 'key');
    if (seq.end !== b.length) return false;
    const version = expect(b, seq.start, seq.end, INTEGER, 'key');
    const alg = expect(b, version.end, seq.end, SEQUENCE, 'key');
    expect(b, alg.end, seq.end, OCTET_STRING, 'key');
    return true;
  } catch {
    return false;
  }
}
