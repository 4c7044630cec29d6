import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { KeystoreError, SecretError } from '../errors.ts';
import { MAX_KEYSTORE_BYTES } from '../keystore/index.ts';
import { describeReference, type FileReference } from './reference.ts';
import { utf8OrUndefined, type RawSecret } from './value.ts';

/** File access, injectable for tests. */
export interface FileSource {
  readonly cwd: string;
  readonly readFile?: (path: string) => Promise<Uint8Array>;
  readonly stat?: (path: string) => Promise<{ mtimeMs: number; size: number }>;
}

/** What a path is, when it is not a regular file; `undefined` for a regular file. */
function irregular(info: {
  isFile(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
  isDirectory(): boolean;
}): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isSocket()) return 'a socket';
  return info.isDirectory() ? 'a directory' : 'not a regular file';
}

/**
 * Reads a regular file, at most `limit + 1` bytes. Opened without blocking, so a FIFO is
 * refused by type instead of waiting for a writer; a device such as /dev/zero is refused
 * before any read.
 */
async function readRegular(
  path: string,
  limit: number,
): Promise<{ bytes: Uint8Array; mtimeMs: number; size: number }> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    const kind = irregular(info);
    if (kind) throw Object.assign(new Error(kind), { code: 'EIRREGULAR', kind });
    const buffer = Buffer.alloc(Math.min(info.size, limit) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { bytes: buffer.subarray(0, length), mtimeMs: info.mtimeMs, size: info.size };
  } finally {
    await handle.close();
  }
}

/**
 * Reads a `file:` reference. Text files (valid UTF-8) also carry their text, without one
 * trailing newline, so a password file written by `echo` works. The version is a hash of
 * the file's mtime and size, so a replaced file is noticed. At most the keystore size limit
 * plus one byte is read.
 *
 * @throws SecretError `ERR_SECRET_REFERENCE` when the file is missing, unreadable, or not a
 *   regular file (a FIFO, a device, a directory).
 * @throws KeystoreError `ERR_KEYSTORE_TOO_LARGE` when it is over {@link MAX_KEYSTORE_BYTES}.
 */
export async function readFileSecret(
  source: FileSource,
  reference: string,
  parsed: FileReference,
): Promise<RawSecret> {
  const path = isAbsolute(parsed.path) ? parsed.path : resolve(source.cwd, parsed.path);
  let bytes: Uint8Array;
  let info: { mtimeMs: number; size: number };
  try {
    if (source.readFile && source.stat) {
      [bytes, info] = await Promise.all([source.readFile(path), source.stat(path)]);
    } else {
      const read = await readRegular(path, MAX_KEYSTORE_BYTES);
      ({ bytes } = read);
      info = read;
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EIRREGULAR'
            ? `is ${String((err as { kind?: unknown }).kind)}, not a regular file; give the path of a file`
            : 'cannot be read';
    throw new SecretError(
      'ERR_SECRET_REFERENCE',
      `secret reference "${describeReference(reference)}": ${problem} (${path})`,
      { cause: err },
    );
  }
  if (bytes.length > MAX_KEYSTORE_BYTES)
    throw new KeystoreError(
      'ERR_KEYSTORE_TOO_LARGE',
      `secret reference "${describeReference(reference)}" is over the ${MAX_KEYSTORE_BYTES}-byte keystore limit; ` +
        'point it at the keystore file itself',
    );
  const text = utf8OrUndefined(bytes);
  const version = createHash('sha256').update(`${info.mtimeMs}:${info.size}`).digest('hex').slice(0, 16);
  return { binary: bytes, text: text?.replace(/\r?\n$/, ''), version };
}
