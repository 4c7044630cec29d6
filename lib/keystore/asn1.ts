/**
 * A small BER/DER reader (ITU-T X.690 §8) for the PKCS#12 parser and the key structures
 * inside JKS/JCEKS entries: views into the input bytes, no copies except for constructed
 * OCTET STRINGs. BER is accepted (indefinite lengths, constructed strings) because PKCS#12
 * files from some producers use it.
 */

/** A structural problem in the bytes (never the bytes themselves); parsers turn it into `ERR_KEYSTORE_FORMAT`. */
export class Asn1Error extends Error {
  override readonly name = 'Asn1Error';
}

/** One element: its identifier octet and its content octets. */
export interface Asn1 {
  /** Identifier octet: 0x30 SEQUENCE, 0x31 SET, 0x04 OCTET STRING, 0xa0 [0] constructed… */
  readonly tag: number;
  readonly content: Uint8Array;
  /** The whole encoding: identifier, length and content octets. */
  readonly raw: Uint8Array;
}

export const SEQUENCE = 0x30;
export const SET = 0x31;
export const INTEGER = 0x02;
export const OCTET_STRING = 0x04;
export const OID = 0x06;
const BMP_STRING = 0x1e;
const UTF8_STRING = 0x0c;
/** [0] constructed (EXPLICIT, or IMPLICIT over a constructed type). */
export const CONTEXT_0 = 0xa0;
/** [0] primitive (IMPLICIT OCTET STRING). */
export const CONTEXT_0_PRIMITIVE = 0x80;

const MAX_DEPTH = 32;
const TAG_NAMES: Readonly<Record<number, string>> = {
  0x02: 'INTEGER',
  0x04: 'OCTET STRING',
  0x05: 'NULL',
  0x06: 'OBJECT IDENTIFIER',
  0x30: 'SEQUENCE',
  0x31: 'SET',
  0xa0: '[0]',
};

function tagName(tag: number): string {
  return TAG_NAMES[tag] ?? `tag 0x${tag.toString(16).padStart(2, '0')}`;
}

/** Reads the element at `offset`; returns it and the offset just past it. */
function readAt(bytes: Uint8Array, offset: number, what: string, depth: number): { el: Asn1; next: number } {
  if (depth > MAX_DEPTH) throw new Asn1Error(`${what} is nested too deeply`);
  if (offset + 2 > bytes.length) throw new Asn1Error(`${what} is truncated`);
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Asn1Error(`${what} has an unsupported high tag number`);
  const first = bytes[offset + 1]!;
  let start = offset + 2;
  if (first === 0x80) {
    // BER indefinite length: the content runs to the end-of-contents octets (00 00).
    if ((tag & 0x20) === 0) throw new Asn1Error(`${what} is a primitive with an indefinite length`);
    let cursor = start;
    for (;;) {
      if (cursor + 2 > bytes.length) throw new Asn1Error(`${what} is truncated`);
      if (bytes[cursor] === 0 && bytes[cursor + 1] === 0)
        return {
          el: { tag, content: bytes.subarray(start, cursor), raw: bytes.subarray(offset, cursor + 2) },
          next: cursor + 2,
        };
      cursor = readAt(bytes, cursor, what, depth + 1).next;
    }
  }
  let length = first;
  if (first > 0x80) {
    const octets = first & 0x7f;
    if (octets > 4) throw new Asn1Error(`${what} announces an impossible length`);
    if (start + octets > bytes.length) throw new Asn1Error(`${what} is truncated`);
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[start + i]!;
    start += octets;
  }
  const end = start + length;
  if (end > bytes.length) throw new Asn1Error(`${what} is truncated`);
  return { el: { tag, content: bytes.subarray(start, end), raw: bytes.subarray(offset, end) }, next: end };
}

/**
 * Reads the one element that `bytes` starts with. Trailing bytes are ignored when
 * `allowTrailing` is set (as OpenSSL does for a whole PFX file), else rejected.
 *
 * @throws Asn1Error when the bytes do not hold one element.
 */
export function readElement(bytes: Uint8Array, what: string, allowTrailing = false): Asn1 {
  const { el, next } = readAt(bytes, 0, what, 0);
  if (!allowTrailing && next !== bytes.length) throw new Asn1Error(`${what} has trailing bytes`);
  return el;
}

/** Checks the element's tag. @throws Asn1Error when it differs. */
export function expect(el: Asn1 | undefined, tag: number, what: string): Asn1 {
  if (!el) throw new Asn1Error(`${what} is missing`);
  if (el.tag !== tag) throw new Asn1Error(`${what} should be ${tagName(tag)}, found ${tagName(el.tag)}`);
  return el;
}

/** The elements inside a constructed element (SEQUENCE, SET, [n] EXPLICIT). */
export function children(el: Asn1, what: string): Asn1[] {
  if ((el.tag & 0x20) === 0) throw new Asn1Error(`${what} should be constructed`);
  const out: Asn1[] = [];
  let offset = 0;
  while (offset < el.content.length) {
    const { el: child, next } = readAt(el.content, offset, what, 1);
    out.push(child);
    offset = next;
  }
  return out;
}

/** The children of a SEQUENCE, checked for its tag. */
export function sequence(el: Asn1 | undefined, what: string): Asn1[] {
  return children(expect(el, SEQUENCE, what), what);
}

/** The one element inside a `[n] EXPLICIT` wrapper. */
export function explicit(el: Asn1 | undefined, tag: number, what: string): Asn1 {
  return readElement(expect(el, tag, what).content, what);
}

/** An OBJECT IDENTIFIER in dotted form. */
export function oid(el: Asn1 | undefined, what: string): string {
  const bytes = expect(el, OID, what).content;
  if (bytes.length === 0 || (bytes[bytes.length - 1]! & 0x80) !== 0)
    throw new Asn1Error(`${what} is not a valid object identifier`);
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128)
      throw new Asn1Error(`${what} is not a valid object identifier`);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0)
        arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}

/** A non-negative INTEGER that fits in 31 bits (versions, iteration counts, lengths). */
export function smallInt(el: Asn1 | undefined, what: string): number {
  const bytes = expect(el, INTEGER, what).content;
  if (bytes.length === 0 || (bytes[0]! & 0x80) !== 0)
    throw new Asn1Error(`${what} should be a non-negative integer`);
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  if (bytes.length - start > 4 || (bytes.length - start === 4 && bytes[start]! > 0x7f))
    throw new Asn1Error(`${what} is too large`);
  let value = 0;
  for (let i = start; i < bytes.length; i++) value = value * 256 + bytes[i]!;
  return value;
}

/**
 * The bytes of an OCTET STRING (or of an IMPLICIT-tagged one, with `tags`), joining the
 * segments of a BER constructed string.
 */
export function octets(
  el: Asn1 | undefined,
  what: string,
  tags: readonly number[] = [OCTET_STRING],
): Uint8Array {
  if (!el) throw new Asn1Error(`${what} is missing`);
  if (tags.includes(el.tag) && (el.tag & 0x20) === 0) return el.content;
  if (tags.some((tag) => (tag | 0x20) === el.tag)) {
    const parts = children(el, what).map((part) => octets(part, what, [OCTET_STRING]));
    return Buffer.concat(parts);
  }
  throw new Asn1Error(`${what} should be ${tagName(tags[0]!)}, found ${tagName(el.tag)}`);
}

/** A BMPString (UTF-16BE) or UTF8String as a JavaScript string. */
export function text(el: Asn1, what: string): string {
  if (el.tag === UTF8_STRING) return Buffer.from(el.content).toString('utf8');
  const bytes = expect(el, BMP_STRING, what).content;
  if (bytes.length % 2 !== 0) throw new Asn1Error(`${what} has an odd length`);
  const swapped = Buffer.from(bytes);
  swapped.swap16();
  return swapped.toString('utf16le');
}
