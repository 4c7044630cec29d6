/**
 * Just enough DER (ITU-T X.690 §8.1) to recognise a structure from its first bytes and to
 * tell a whole structure from a truncated one, without a full ASN.1 parser on the hot path.
 */

/** A tag-length header read from DER bytes. */
export interface DerHeader {
  /** The identifier octet (0x30 for SEQUENCE, 0x02 for INTEGER…). */
  readonly tag: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Number of content bytes the header announces. */
  readonly length: number;
}

/**
 * Reads the tag and definite length at `offset`; `undefined` when the bytes are too short
 * or the length form is not DER (indefinite, or longer than four octets).
 */
export function readDerHeader(bytes: Uint8Array, offset = 0): DerHeader | undefined {
  if (offset + 2 > bytes.length) return undefined;
  const tag = bytes[offset]!;
  const first = bytes[offset + 1]!;
  if (first < 0x80) return { tag, contentStart: offset + 2, length: first };
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4 || offset + 2 + octets > bytes.length) return undefined;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + bytes[offset + 2 + i]!;
  return { tag, contentStart: offset + 2 + octets, length };
}

/** True when `bytes` is exactly one DER SEQUENCE whose announced length fits the bytes. */
export function isWholeDerSequence(bytes: Uint8Array): boolean {
  const header = readDerHeader(bytes);
  return header !== undefined && header.tag === 0x30 && header.contentStart + header.length === bytes.length;
}

/** A SEQUENCE header, definite or BER indefinite (`30 80`); the offset of its content. */
function sequenceContent(bytes: Uint8Array, offset: number): number | undefined {
  if (bytes[offset] === 0x30 && bytes[offset + 1] === 0x80) return offset + 2;
  const header = readDerHeader(bytes, offset);
  return header?.tag === 0x30 ? header.contentStart : undefined;
}

/**
 * True when the bytes start like a PKCS#12 PFX: `SEQUENCE { INTEGER 3, SEQUENCE … }`, in
 * DER or in BER with indefinite lengths (old Java, BouncyCastle and Windows exports).
 * The length is not checked here, so a truncated file is still handed to the PKCS#12
 * parser, which can say that it is truncated.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7292#section-4
 */
export function looksLikePfx(bytes: Uint8Array): boolean {
  const content = sequenceContent(bytes, 0);
  if (content === undefined) return false;
  const version = readDerHeader(bytes, content);
  if (!version || version.tag !== 0x02 || version.length !== 1) return false;
  if (bytes[version.contentStart] !== 3) return false;
  return sequenceContent(bytes, version.contentStart + 1) !== undefined;
}
