/**
 * The Chromium the browser tests drive with playwright-core. Skipped where it is missing on
 * a developer's machine; under CI (`.ci/run` installs it) a missing browser fails the run
 * rather than hiding the tests.
 */
import { existsSync } from 'node:fs';

/** Debian's chromium. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a headless run in a container. */
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

/**
 * Whether the browser tests can run: true when Chromium is there.
 * @throws Error under `CI` when it is missing
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env['CI'])
    throw new Error(`${CHROMIUM} is missing; .ci/run installs Debian's chromium before the tests`);
  return false;
}
