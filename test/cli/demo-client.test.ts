/**
 * `npm start` prints, beside the curl line, three lines that ask the demo for a token with
 * `token-broker/client`. Run as printed (saved as try.mts inside the repository, run with
 * tsx) against a demo started over 127.0.0.1, they print a token; the curl line then gets
 * the same token from the broker's cache.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Ignored by git, eslint and prettier; inside the package, so `token-broker/client` resolves. */
const SCRATCH = join(ROOT, 'test-results');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) {
    if (c.exitCode !== null) continue;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGTERM');
    await exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The demo's stdout up to and including the line that matches `last`. */
function printedUntil(proc: ChildProcess, last: RegExp): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      const end = lines.findIndex((line) => last.test(line));
      if (end !== -1) resolve(lines.slice(0, end + 1));
    });
    proc.once('exit', (code) => reject(new Error(`demo exited with ${code} before printing its lines`)));
  });
}

/** Runs `file` the way the demo says (tsx), in its own folder; resolves with its stdout. */
function runScript(
  file: string,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(TSX, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    proc.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm start: the token-broker/client lines', () => {
  it('prints three client lines that return a token from the demo, the one the curl line then gets', async () => {
    const demo = spawn(process.execPath, ['bin/token-broker.js', 'demo', '--port', '0', '--auth-port', '0'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TOKEN_BROKER_CONFIG: '' },
    });
    children.push(demo);
    const printed = await printedUntil(demo, /console\.log\(await broker\.getToken/);

    const intro = printed.findIndex((line) => line.startsWith('Or with token-broker/client'));
    expect(intro).toBeGreaterThan(-1);
    expect(printed[intro]).toContain(`save these three lines as try.mts in ${ROOT}`);
    const snippet = printed.slice(intro + 1, intro + 4).map((line) => line.trim());
    expect(snippet[0]).toBe("import { TokenBrokerClient } from 'token-broker/client';");

    mkdirSync(SCRATCH, { recursive: true });
    const dir = mkdtempSync(join(SCRATCH, 'demo-client-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'try.mts'), `${snippet.join('\n')}\n`);
    const run = await runScript('try.mts', dir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/tokenType: 'Bearer'/);
    const clientToken = /accessToken: '([^']+)'/.exec(run.stdout)?.[1];
    expect(clientToken?.length).toBeGreaterThan(20);

    const curl = printed.find((line) => /^\s*curl /.test(line))!.trim();
    const match = /^curl -s -X POST (\S+) -H 'Content-Type: application\/json' -d '(.+)'$/.exec(curl);
    expect(match).not.toBeNull();
    const res = await fetch(match![1]!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: match![2]!,
    });
    expect(res.status).toBe(200);
    // Same profile, subject and scope: the broker's cache answers with the client's token.
    expect(((await res.json()) as { access_token: string }).access_token).toBe(clientToken);
  });
});
