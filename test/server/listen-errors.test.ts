import { spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.ts';
import { ListenError } from '../../lib/errors.ts';
import { startServer } from '../../lib/server/index.ts';
import { listenError } from '../../lib/server/listen-error.ts';

const BIN = fileURLToPath(new URL('../../bin/token-broker.js', import.meta.url));
const CONFIG = [
  'profiles:',
  '  demo:',
  '    issuer: cli-app',
  '    subject: ops@example.com',
  '    tokenUri: POST http://127.0.0.1:9/token',
  '    certStore: file:./key.pem',
  '',
].join('\n');

let busy: Server;
let port: number;

beforeAll(async () => {
  // A real second listener holds the port.
  busy = createServer();
  await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
  port = (busy.address() as AddressInfo).port;
});
afterAll(async () => new Promise<void>((done) => busy.close(() => done())));

describe('serve on a port that is taken', () => {
  it('exits 1 with one typed line, ERR_LISTEN, naming the port and the fix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'serve-busy-'));
    await writeFile(join(dir, 'token-broker.yaml'), CONFIG);
    const env = { PATH: process.env['PATH'] ?? '', HOME: dir };
    const run = spawnSync(process.execPath, [BIN, 'serve', '--port', String(port)], {
      cwd: dir,
      env,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.split('\n').filter((l) => l !== '')).toEqual([
      `token-broker: ERR_LISTEN: port ${port} on 127.0.0.1 is in use; pass --port with a free port (or --port 0 for any)`,
    ]);
  }, 30_000);

  it('rejects startServer with ListenError ERR_LISTEN, the errno error as cause', async () => {
    const config = parseConfig(CONFIG, join(tmpdir(), 'c.yaml'));
    const err = await startServer({ config, port, host: '127.0.0.1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect(err).toMatchObject({
      code: 'ERR_LISTEN',
      message: `port ${port} on 127.0.0.1 is in use; pass --port with a free port (or --port 0 for any)`,
      cause: expect.objectContaining({ code: 'EADDRINUSE' }),
    });
  });
});

describe('demo on an --auth-port that is taken', () => {
  it('exits 1 with one typed line naming --auth-port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'demo-busy-'));
    const run = spawnSync(process.execPath, [BIN, 'demo', '--port', '0', '--auth-port', String(port)], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.split('\n').filter((l) => l.startsWith('token-broker:'))).toEqual([
      `token-broker: ERR_LISTEN: port ${port} on 127.0.0.1 is in use; pass --auth-port with a free port (or --auth-port 0 for any)`,
    ]);
    expect(run.stderr).not.toContain('unexpected');
  }, 30_000);
});

describe('other listen errors', () => {
  it('names an address that is not on this machine (EADDRNOTAVAIL)', async () => {
    const config = parseConfig(CONFIG, join(tmpdir(), 'c.yaml'));
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never an address of this machine.
    const err = await startServer({ config, port: 0, host: '192.0.2.1' }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_LISTEN',
      message: '192.0.2.1 is not an address of this machine; pass --host with one (default 127.0.0.1)',
    });
  });

  it.each([
    ['EACCES', '::1', 80, 'port 80 on [::1] needs privileges this process lacks; pass --port 1024 or above'],
    [
      'ENOTFOUND',
      'nohost.invalid',
      8787,
      'host nohost.invalid does not resolve; pass --host with an address of this machine',
    ],
    ['EMFILE', '127.0.0.1', 8787, 'cannot listen on port 8787 on 127.0.0.1 (EMFILE)'],
  ])('turns %s into one line', (code, host, p, message) => {
    const cause = Object.assign(new Error(`listen ${code}`), { code });
    const err = listenError(cause, host, p);
    expect(err.code).toBe('ERR_LISTEN');
    expect(err.message).toBe(message);
    expect(err.cause).toBe(cause);
  });
});
