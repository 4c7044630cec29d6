/**
 * Finds a Chromium for the real-browser tests, in this order:
 *
 * 1. `CHROMIUM_PATH`: the executable a developer points at (a mistake here fails loudly).
 * 2. A system Chromium or Chrome found on `PATH` (Debian's `chromium`, `google-chrome`, …)
 *    or at the usual macOS location.
 * 3. The build that ships inside the `@sparticuz/chromium` dev dependency (Linux x64 only):
 *    its brotli files are unpacked once per checkout into `node_modules/.cache/`, and the
 *    browser runs with the NSS/NSPR libraries and fonts that come in the same package, so
 *    a fresh machine needs no apt step and no system libraries beyond glibc.
 *
 * Where none is found the tests are skipped with a one-line reason; under `CI=true` a
 * missing browser fails the run instead of hiding the tests.
 */
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { chromium, type BrowserContext } from 'playwright-core';

/** How to start the browser that was found, and where it came from. */
export interface ChromiumLaunch {
  readonly executablePath: string;
  readonly source: 'CHROMIUM_PATH' | 'system' | '@sparticuz/chromium';
  /** Extra environment for the browser process (bundled libraries and fonts). */
  readonly env: Readonly<Record<string, string>>;
}

/** Names a system Chromium or Chrome goes by on `PATH`. */
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];
const MAC_CHROME = '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome';

/**
 * Flags every source runs with: headless, no sandbox (tests may run as root in a
 * container, where Chromium refuses its sandbox), and nothing that phones home.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function findOnPath(env: NodeJS.ProcessEnv): string | undefined {
  const dirs = (env['PATH'] ?? '').split(delimiter).filter(Boolean);
  for (const name of SYSTEM_NAMES) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return platform() === 'darwin' && isExecutable(MAC_CHROME) ? MAC_CHROME : undefined;
}

/** Unpacks one `.br` (plain file) or `.tar.br` into `into`; tar keeps no foreign owners. */
function unpack(file: string, into: string): void {
  const bytes = brotliDecompressSync(readFileSync(file));
  if (file.endsWith('.tar.br')) {
    execFileSync('tar', ['-x', '--no-same-owner', '-C', into], { input: bytes, maxBuffer: 1 << 20 });
  } else {
    writeFileSync(join(into, 'chromium'), bytes, { mode: 0o755 });
  }
}

/**
 * The `@sparticuz/chromium` build, unpacked on first use. Unpacking goes to a private
 * directory renamed into place, so test files starting together never see half a binary.
 */
function npmChromium(): ChromiumLaunch | undefined {
  if (platform() !== 'linux' || arch() !== 'x64') return undefined;
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  } catch {
    return undefined;
  }
  const root = join(dirname(main), '..', '..');
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const dir = join(root, '..', '..', '.cache', `sparticuz-chromium-${version}`);
  if (!existsSync(join(dir, 'chromium'))) {
    const work = `${dir}.${process.pid}.tmp`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    for (const name of ['chromium.br', 'al2023.tar.br', 'fonts.tar.br'])
      unpack(join(root, 'bin', name), work);
    writeFileSync(
      join(work, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${join(dir, 'fonts')}</dir><cachedir>${join(dir, 'fonts-cache')}</cachedir></fontconfig>\n`,
    );
    try {
      renameSync(work, dir);
    } catch {
      rmSync(work, { recursive: true, force: true }); // another test file unpacked it first
    }
  }
  return {
    executablePath: join(dir, 'chromium'),
    source: '@sparticuz/chromium',
    env: { LD_LIBRARY_PATH: join(dir, 'lib'), FONTCONFIG_PATH: dir },
  };
}

/**
 * Finds a browser for the tests, or says in one line why there is none.
 *
 * @throws Error when `CHROMIUM_PATH` names something that is not an executable file.
 */
export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumLaunch | { missing: string } {
  const pointed = env['CHROMIUM_PATH'];
  if (pointed) {
    if (!isExecutable(pointed))
      throw new Error(`CHROMIUM_PATH=${pointed} is not an executable file; fix or unset it`);
    return { executablePath: pointed, source: 'CHROMIUM_PATH', env: {} };
  }
  const system = findOnPath(env);
  if (system) return { executablePath: system, source: 'system', env: {} };
  return (
    npmChromium() ?? {
      missing: `no Chromium: set CHROMIUM_PATH, install chromium, or use Linux x64 (where @sparticuz/chromium ships one)`,
    }
  );
}

/**
 * The browser for a test file: `describe.runIf(browser.found)`. Under `CI=true` a missing
 * browser throws at import, so the run fails rather than skipping the tests.
 */
export function browserForTests(
  env: NodeJS.ProcessEnv = process.env,
  find: (env: NodeJS.ProcessEnv) => ChromiumLaunch | { missing: string } = findChromium,
): { found: boolean; launch?: ChromiumLaunch } {
  const result = find(env);
  if ('missing' in result) {
    if (env['CI']) throw new Error(`${result.missing} (CI=true needs a browser)`);
    console.warn(`skipping real-browser tests: ${result.missing}`);
    return { found: false };
  }
  return { found: true, launch: result };
}

/** Starts a persistent headless context on the browser that was found. */
export function launchContext(launch: ChromiumLaunch, profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: launch.executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
    env: { ...process.env, ...launch.env },
  });
}
