/**
 * A bounds-checked reader for the big-endian primitives of Java's `DataInput`, which the
 * JKS and JCEKS formats are written with, including Java's "modified UTF-8" strings.
 *
 * Every read past the end, or any malformed string, throws {@link JavaDataError}; the
 * keystore parsers turn it into `ERR_KEYSTORE_FORMAT` with context.
 *
 * @see https://docs.oracle.com/en/java/javase/17/docs/api/java.base/java/io/DataInput.html
 */

/** The bytes do not follow the `DataInput` layout; `message` says what was wrong, never the bytes. */
export class JavaDataError extends Error {
  override readonly name = 'JavaDataError';
}

/** Sequential reader over a byte array. */
export class JavaDataReader {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  /** Offset of the next byte to read. */
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number, what: string): number {
    if (n > this.remaining) throw new JavaDataError(`the file ends inside ${what}`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(what = 'a byte'): number {
    return this.view.getUint8(this.need(1, what));
  }

  u16(what = 'a 16-bit number'): number {
    return this.view.getUint16(this.need(2, what));
  }

  u32(what = 'a 32-bit number'): number {
    return this.view.getUint32(this.need(4, what));
  }

  /** A Java `long` (e.g. a date in milliseconds); exact up to 2^53. */
  u64(what = 'a 64-bit number'): number {
    const at = this.need(8, what);
    return this.view.getUint32(at) * 2 ** 32 + this.view.getUint32(at + 4);
  }

  /** `n` bytes, as a view into the input (not a copy). */
  bytesOf(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }

  /** A `DataInput.readUTF` string: a 16-bit length, then modified UTF-8. */
  utf(what: string): string {
    const len = this.u16(what);
    return decodeModifiedUtf8(this.bytesOf(len, what), what);
  }
}

/**
 * Decodes Java's modified UTF-8: NUL as C0 80, characters beyond the BMP as two 3-byte
 * surrogates. The result holds the same UTF-16 code units a Java `String` would.
 */
function decodeModifiedUtf8(b: Uint8Array, what: string): string {
  const units: number[] = [];
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    if (c < 0x80) {
      units.push(c);
      i += 1;
    } else if ((c & 0xe0) === 0xc0 && i + 1 < b.length && (b[i + 1]! & 0xc0) === 0x80) {
      units.push(((c & 0x1f) << 6) | (b[i + 1]! & 0x3f));
      i += 2;
    } else if (
      (c & 0xf0) === 0xe0 &&
      i + 2 < b.length &&
      (b[i + 1]! & 0xc0) === 0x80 &&
      (b[i + 2]! & 0xc0) === 0x80
    ) {
      units.push(((c & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f));
      i += 3;
    } else {
      throw new JavaDataError(`${what} is not valid modified UTF-8`);
    }
  }
  let out = '';
  for (let i = 0; i < units.length; i += 8192) out += String.fromCharCode(...units.slice(i, i + 8192));
  return out;
}
