/**
 * `file:` references are bounded: at most the keystore limit plus one byte is read, and a
 * FIFO or a device is refused by its type (never read, never waited on).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KEYSTORE_BYTES } from '../../lib/keystore/index.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { rejection } from '../keystore/helpers.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-file-limits-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const resolve = (reference: string) => createSecretResolver({ env: {}, cwd: dir }).resolveBytes(reference);

describe('file: references', () => {
  it('refuses /dev/zero by type, at once, without reading it', async () => {
    const before = process.memoryUsage().rss;
    const err = await rejection(resolve('file:/dev/zero'));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(
      'secret reference "file:/dev/zero": is a device, not a regular file; give the path of a file (/dev/zero)',
    );
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses a FIFO by type instead of waiting for a writer', async () => {
    const fifo = join(dir, 'keystore.fifo');
    execFileSync('mkfifo', [fifo]);
    const err = await rejection(resolve(`file:${fifo}`));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(
      `secret reference "file:${fifo}": is a FIFO (named pipe), not a regular file; give the path of a file (${fifo})`,
    );
  });

  it('refuses a directory by type', async () => {
    const err = await rejection(resolve(`file:${dir}`));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(
      `secret reference "file:${dir}": is a directory, not a regular file; give the path of a file (${dir})`,
    );
  });

  it('reads a file of exactly the limit, and refuses one byte more with ERR_KEYSTORE_TOO_LARGE', async () => {
    await writeFile(join(dir, 'limit.bin'), Buffer.alloc(MAX_KEYSTORE_BYTES, 1));
    expect((await resolve('file:limit.bin')).bytes.length).toBe(MAX_KEYSTORE_BYTES);
    await writeFile(join(dir, 'over.bin'), Buffer.alloc(MAX_KEYSTORE_BYTES + 1, 1));
    const err = await rejection(resolve('file:over.bin'));
    expect(err.code).toBe('ERR_KEYSTORE_TOO_LARGE');
    expect(err.message).toBe(
      `secret reference "file:over.bin" is over the ${MAX_KEYSTORE_BYTES}-byte keystore limit; point it at the keystore file itself`,
    );
  });
});
