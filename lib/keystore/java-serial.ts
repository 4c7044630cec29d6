/**
 * Steps over one Java-serialized object, as JCEKS stores its secret-key entries (a
 * `SealedObject` written by a fresh `ObjectOutputStream`, with no length prefix). The
 * object is walked only to find where it ends: nothing is deserialized into live objects
 * and nothing is decrypted.
 *
 * @see https://docs.oracle.com/en/java/javase/17/docs/specs/serialization/protocol.html
 */
import { JavaDataError } from './java-data.ts';
import type { JavaDataReader } from './java-data.ts';

const STREAM_MAGIC = 0xaced;
const STREAM_VERSION = 5;
const TC_NULL = 0x70;
const TC_REFERENCE = 0x71;
const TC_CLASSDESC = 0x72;
const TC_OBJECT = 0x73;
const TC_STRING = 0x74;
const TC_ARRAY = 0x75;
const TC_CLASS = 0x76;
const TC_BLOCKDATA = 0x77;
const TC_ENDBLOCKDATA = 0x78;
const TC_BLOCKDATALONG = 0x7a;
const TC_LONGSTRING = 0x7c;
const TC_PROXYCLASSDESC = 0x7d;
const TC_ENUM = 0x7e;
const SC_WRITE_METHOD = 0x01;
const SC_SERIALIZABLE = 0x02;
const SC_EXTERNALIZABLE = 0x04;
const SC_BLOCK_DATA = 0x08;
const BASE_HANDLE = 0x7e0000;
const MAX_DEPTH = 64;

const PRIMITIVE_SIZE: Readonly<Record<string, number>> = { B: 1, Z: 1, C: 2, S: 2, I: 4, F: 4, J: 8, D: 8 };

interface ClassDesc {
  readonly name: string;
  readonly flags: number;
  readonly fields: readonly { readonly type: string; readonly name: string }[];
  readonly superDesc: ClassDesc | undefined;
}

class Walker {
  private readonly handles: unknown[] = [];

  constructor(private readonly r: JavaDataReader) {}

  private fail(what: string): never {
    throw new JavaDataError(`the serialized secret key ${what}`);
  }

  private handle<T>(value: T): T {
    this.handles.push(value);
    return value;
  }

  /** Reads one content element; returns a class descriptor or string when that is what it was. */
  content(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail('is nested too deeply');
    const tc = this.r.u8('a serialized object');
    switch (tc) {
      case TC_NULL:
        return undefined;
      case TC_REFERENCE: {
        const h = this.r.u32('a serialized reference') - BASE_HANDLE;
        if (h < 0 || h >= this.handles.length) this.fail('refers to an unknown object');
        return this.handles[h];
      }
      case TC_CLASSDESC:
      case TC_PROXYCLASSDESC:
        return this.newClassDesc(tc, depth + 1);
      case TC_STRING:
        return this.handle(this.r.utf('a serialized string'));
      case TC_LONGSTRING: {
        const len = this.r.u64('a serialized string');
        this.r.bytesOf(len, 'a serialized string');
        return this.handle('');
      }
      case TC_OBJECT:
        return this.object(depth);
      case TC_ARRAY:
        return this.array(depth);
      case TC_CLASS:
        this.classDesc(depth);
        return this.handle(undefined);
      case TC_ENUM:
        this.classDesc(depth);
        this.handle(undefined);
        this.content(depth + 1);
        return undefined;
      case TC_BLOCKDATA:
        this.r.bytesOf(this.r.u8(), 'serialized block data');
        return undefined;
      case TC_BLOCKDATALONG:
        this.r.bytesOf(this.r.u32(), 'serialized block data');
        return undefined;
      default:
        return this.fail(`has an unknown element (type ${tc})`);
    }
  }

  private classDesc(depth: number): ClassDesc | undefined {
    const desc = this.content(depth + 1);
    if (desc !== undefined && !isClassDesc(desc)) this.fail('has a class description of the wrong kind');
    return desc;
  }

  /** Reads a class descriptor whose type code has been read. */
  private newClassDesc(tc: number, depth: number): ClassDesc {
    if (tc === TC_PROXYCLASSDESC) {
      const placeholder: ClassDesc = {
        name: '$Proxy',
        flags: SC_SERIALIZABLE,
        fields: [],
        superDesc: undefined,
      };
      this.handles.push(placeholder);
      const n = this.r.u32('a proxy class');
      for (let i = 0; i < n; i++) this.r.utf('a proxy interface');
      this.annotations(depth);
      const superDesc = this.classDesc(depth);
      const desc = { ...placeholder, superDesc };
      this.handles[this.handles.indexOf(placeholder)] = desc;
      return desc;
    }
    const name = this.r.utf('a class name');
    this.r.bytesOf(8, 'a serialVersionUID');
    const index = this.handles.push(undefined) - 1;
    const flags = this.r.u8('class flags');
    const count = this.r.u16('a field count');
    const fields: { type: string; name: string }[] = [];
    for (let i = 0; i < count; i++) {
      const type = String.fromCharCode(this.r.u8('a field type'));
      const fieldName = this.r.utf('a field name');
      if (type === 'L' || type === '[') this.content(depth + 1);
      else if (PRIMITIVE_SIZE[type] === undefined) this.fail(`has a field of unknown type "${type}"`);
      fields.push({ type, name: fieldName });
    }
    // The descriptor is usable (for references) before its annotations and superclass are read.
    const partial: ClassDesc = { name, flags, fields, superDesc: undefined };
    this.handles[index] = partial;
    this.annotations(depth);
    const desc: ClassDesc = { ...partial, superDesc: this.classDesc(depth) };
    this.handles[index] = desc;
    return desc;
  }

  private annotations(depth: number): void {
    for (;;) {
      if (this.r.u8('serialized annotations') === TC_ENDBLOCKDATA) return;
      this.r.offset -= 1;
      this.content(depth + 1);
    }
  }

  private object(depth: number): undefined {
    const desc = this.classDesc(depth);
    if (desc === undefined) this.fail('has an object without a class');
    this.handle(undefined);
    const chain: ClassDesc[] = [];
    for (let d: ClassDesc | undefined = desc; d; d = d.superDesc) chain.unshift(d);
    for (const d of chain) {
      if (d.flags & SC_EXTERNALIZABLE) {
        if (!(d.flags & SC_BLOCK_DATA)) this.fail('uses the old externalizable protocol');
        this.annotations(depth);
        continue;
      }
      if (!(d.flags & SC_SERIALIZABLE)) continue;
      for (const f of d.fields) {
        const size = PRIMITIVE_SIZE[f.type];
        if (size !== undefined) this.r.bytesOf(size, `field ${f.name}`);
        else this.content(depth + 1);
      }
      if (d.flags & SC_WRITE_METHOD) this.annotations(depth);
    }
    return undefined;
  }

  private array(depth: number): undefined {
    const desc = this.classDesc(depth);
    if (desc === undefined || !desc.name.startsWith('[')) this.fail('has an array without an array class');
    this.handle(undefined);
    const length = this.r.u32('an array length');
    const size = PRIMITIVE_SIZE[desc.name.charAt(1)];
    if (size !== undefined) this.r.bytesOf(length * size, 'an array');
    else for (let i = 0; i < length; i++) this.content(depth + 1);
    return undefined;
  }
}

function isClassDesc(value: unknown): value is ClassDesc {
  return typeof value === 'object' && value !== null && 'fields' in value && 'flags' in value;
}

/**
 * Reads one serialization stream (`AC ED 00 05` and one object) from `r`, leaving `r` just
 * past it.
 *
 * @throws JavaDataError when the stream is truncated or not a serialized object.
 */
export function skipSerializedObject(r: JavaDataReader): void {
  if (r.u16('a serialized object') !== STREAM_MAGIC || r.u16('a serialized object') !== STREAM_VERSION) {
    throw new JavaDataError('the secret key is not a serialized Java object');
  }
  new Walker(r).content(0);
}
