/**
 * ECDSA signature forms: KMS (and X.509) give `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER,
 * s INTEGER }` in DER; JWS wants the two integers as fixed-length big-endian octets,
 * `r || s` (RFC 7518 §3.4).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-3.4
 * @see https://www.rfc-editor.org/rfc/rfc3279#section-2.2.3
 */

/** Octets per integer: 32 for P-256, 48 for P-384, 66 for P-521. */
export const ECDSA_INTEGER_BYTES = { ES256: 32, ES384: 48, ES512: 66 } as const;

function fail(what: string): never {
  throw new TypeError(`not a DER ECDSA signature: ${what}`);
}

/** Reads a DER length at `offset`; returns the length and where the content starts. */
function readLength(der: Uint8Array, offset: number): [number, number] {
  const first = der[offset] ?? fail('truncated length');
  if (first < 0x80) return [first, offset + 1];
  const octets = first & 0x7f;
  if (octets === 0 || octets > 2) fail('unsupported length form');
  let length = 0;
  for (let i = 1; i <= octets; i++) length = length * 256 + (der[offset + i] ?? fail('truncated length'));
  if (length < 0x80) fail('non-minimal length');
  return [length, offset + 1 + octets];
}

/** Copies one DER INTEGER (positive, at most `size` significant octets) right-aligned into `out`. */
function readInteger(der: Uint8Array, offset: number, out: Uint8Array, at: number, size: number): number {
  if (der[offset] !== 0x02) fail('expected INTEGER');
  const [length, start] = readLength(der, offset + 1);
  const end = start + length;
  if (length === 0 || end > der.length) fail('truncated INTEGER');
  if ((der[start]! & 0x80) !== 0) fail('negative INTEGER');
  let first = start;
  while (first < end - 1 && der[first] === 0) first++;
  const significant = end - first;
  if (significant > size) fail('INTEGER longer than the curve');
  out.set(der.subarray(first, end), at + size - significant);
  return end;
}

/**
 * Converts a DER ECDSA signature to the JOSE form of `size` octets per integer.
 *
 * @throws TypeError when `der` is not one well-formed `SEQUENCE { r, s }` that fits `size`.
 */
export function derToJose(der: Uint8Array, size: number): Uint8Array {
  if (der[0] !== 0x30) fail('expected SEQUENCE');
  const [length, start] = readLength(der, 1);
  if (start + length !== der.length) fail('length does not match');
  const out = new Uint8Array(size * 2);
  const afterR = readInteger(der, start, out, 0, size);
  const afterS = readInteger(der, afterR, out, size, size);
  if (afterS !== der.length) fail('trailing bytes');
  return out;
}
