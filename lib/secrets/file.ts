import { createHash } from 'node:crypto';
import { readFile as fsReadFile, stat as fsStat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { SecretError } from '../errors.ts';
import { describeReference, type FileReference } from './reference.ts';
import { utf8OrUndefined, type RawSecret } from './value.ts';

/** File access, injectable for tests. */
export interface FileSource {
  readonly cwd: string;
  readonly readFile?: (path: string) => Promise<Uint8Array>;
  readonly stat?: (path: string) => Promise<{ mtimeMs: number; size: number }>;
}

/**
 * Reads a `file:` reference. Text files (valid UTF-8) also carry their text, without one
 * trailing newline, so a password file written by `echo` works. The version is a hash of
 * the file's mtime and size, so a replaced file is noticed.
 *
 * @throws SecretError `ERR_SECRET_REFERENCE` when the file is missing or unreadable.
 */
export async function readFileSecret(
  source: FileSource,
  reference: string,
  parsed: FileReference,
): Promise<RawSecret> {
  const path = isAbsolute(parsed.path) ? parsed.path : resolve(source.cwd, parsed.path);
  const read = source.readFile ?? ((p: string) => fsReadFile(p));
  const stat = source.stat ?? ((p: string) => fsStat(p));
  let bytes: Uint8Array;
  let info: { mtimeMs: number; size: number };
  try {
    [bytes, info] = await Promise.all([read(path), stat(path)]);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : 'cannot be read';
    throw new SecretError(
      'ERR_SECRET_REFERENCE',
      `secret reference "${describeReference(reference)}": ${problem} (${path})`,
      { cause: err },
    );
  }
  const text = utf8OrUndefined(bytes);
  const version = createHash('sha256').update(`${info.mtimeMs}:${info.size}`).digest('hex').slice(0, 16);
  return { binary: bytes, text: text?.replace(/\r?\n$/, ''), version };
}
