import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { browserForTests, findChromium } from './chromium.ts';

const dir = mkdtempSync(join(tmpdir(), 'tb-chromium-lookup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeBrowser(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

describe('findChromium', () => {
  it('takes CHROMIUM_PATH before a browser on PATH', () => {
    const pointed = fakeBrowser('my-chrome');
    fakeBrowser('chromium');
    expect(findChromium({ CHROMIUM_PATH: pointed, PATH: dir })).toEqual({
      executablePath: pointed,
      source: 'CHROMIUM_PATH',
      env: {},
    });
  });

  it('rejects a CHROMIUM_PATH that is not an executable file, saying how to fix it', () => {
    expect(() => findChromium({ CHROMIUM_PATH: dir, PATH: '' })).toThrow(
      `CHROMIUM_PATH=${dir} is not an executable file; fix or unset it`,
    );
  });

  it('finds a system chromium on PATH', () => {
    const system = fakeBrowser('chromium');
    expect(findChromium({ PATH: `/nonexistent:${dir}` })).toMatchObject({
      executablePath: system,
      source: 'system',
    });
  });

  it.runIf(platform() === 'linux' && arch() === 'x64')(
    'falls back to the @sparticuz/chromium build, with its own libraries and fonts',
    () => {
      const found = findChromium({ PATH: '/nonexistent' });
      expect(found).toMatchObject({ source: '@sparticuz/chromium' });
      if (!('source' in found)) throw new Error('no browser');
      expect(found.executablePath).toMatch(/node_modules\/\.cache\/sparticuz-chromium-[\d.]+\/chromium$/);
      expect(found.env['LD_LIBRARY_PATH']).toBe(join(found.executablePath, '..', 'lib'));
    },
  );
});

describe('browserForTests', () => {
  const missing = () => ({ missing: 'no Chromium: set CHROMIUM_PATH' });

  it('skips with a one-line reason when no browser is found outside CI', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(browserForTests({}, missing)).toEqual({ found: false });
    expect(warn).toHaveBeenCalledWith('skipping real-browser tests: no Chromium: set CHROMIUM_PATH');
    warn.mockRestore();
  });

  it('fails under CI=true when no browser is found', () => {
    expect(() => browserForTests({ CI: 'true' }, missing)).toThrow(
      'no Chromium: set CHROMIUM_PATH (CI=true needs a browser)',
    );
  });
});
