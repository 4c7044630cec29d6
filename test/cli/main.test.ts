import { describe, expect, it } from 'vitest';
import type { CliIo } from '../../lib/cli/io.ts';
import { main } from '../../lib/cli/main.ts';

function capture(): { io: CliIo; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      readStdin: async () => '',
      env: {},
      cwd: process.cwd(),
    },
    out: () => out,
    err: () => err,
  };
}

describe('token-broker CLI entry', () => {
  it('prints every command with --help and exits 0', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    for (const name of [
      'serve',
      'demo',
      'token',
      'keystore inspect',
      'import datadirect',
      'check',
      'consent-url',
    ]) {
      expect(c.out()).toContain(`token-broker ${name}`);
    }
    expect(c.err()).toBe('');
  });

  it('refuses an unknown command with exit 2 and lists the commands', async () => {
    const c = capture();
    expect(await main(['mint'], c.io)).toBe(2);
    expect(c.err()).toBe(
      'token-broker: unknown command "mint"; commands: serve, demo, token, keystore, import, check, consent-url\n',
    );
  });

  it("prints one command's usage with <command> --help, without running it", async () => {
    const c = capture();
    expect(await main(['token', '--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^Usage: token-broker token <profile> \[--subject S\]/);
  });

  it('reports a usage mistake of a command on one line with exit 2', async () => {
    const c = capture();
    expect(await main(['token'], c.io)).toBe(2);
    expect(c.err().trim().split('\n')).toHaveLength(1);
    expect(c.err()).toMatch(/^token-broker: /);
  });
});
