import { describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';

describe('token-broker CLI entry', () => {
  it('prints every command with --help and exits 0', async () => {
    const c = captureIo();
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
      expect(c.stdout()).toContain(`token-broker ${name}`);
    }
    expect(c.stderr()).toBe('');
  });

  it('refuses an unknown command with exit 2 and lists the commands', async () => {
    const c = captureIo();
    expect(await main(['mint'], c.io)).toBe(2);
    expect(c.stderr()).toBe(
      'token-broker: unknown command "mint"; commands: serve, demo, token, keystore, import, check, kms, consent-url, events\n',
    );
  });

  it("prints one command's usage with <command> --help, without running it", async () => {
    const c = captureIo();
    expect(await main(['token', '--help'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/^Usage: token-broker token <profile> \[--subject S\]/);
  });

  it('reports a usage mistake of a command on one line with exit 2', async () => {
    const c = captureIo();
    expect(await main(['token'], c.io)).toBe(2);
    expect(c.stderr().trim().split('\n')).toHaveLength(1);
    expect(c.stderr()).toMatch(/^token-broker: /);
  });
});
