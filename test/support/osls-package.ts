/**
 * Packages the service as a deployment would (`osls package`), offline-safe: its own HOME,
 * telemetry off, no AWS credentials, artifacts in a temporary folder. Used by the template
 * test and by the artefact tests, which run the packaged zips.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzip } from './unzip.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The profiles file packaged by the tests (serverless.yml `params.profiles`). */
export const PACKAGED_PROFILES = 'test/fixtures/deploy/profiles.yaml';

/** The functions serverless.yml defines, with their handlers. */
export const FUNCTIONS = {
  token: 'functions/token.handler',
  health: 'functions/health.handler',
  consentStart: 'functions/consent-start.handler',
  consentCallback: 'functions/consent-callback.handler',
  refresh: 'functions/refresh.handler',
} as const;
export type FunctionName = keyof typeof FUNCTIONS;

/** A CloudFormation resource of the packaged template. */
export type Resource = { Type: string; Properties: Record<string, any> };

/** What `osls package` produced. */
export interface PackagedService {
  /** The artifacts folder (zips and templates). */
  readonly out: string;
  readonly code: number | null;
  readonly output: string;
  /** Resources of cloudformation-template-update-stack.json (empty when packaging failed). */
  readonly resources: Record<string, Resource>;
  /** Unpacks a function's zip (once per caller) into a folder of its own, as Lambda's /var/task. */
  unpack(name: FunctionName): string;
  /** Removes this caller's unpacked folders (and its own artifacts; shared ones stay for other test files). */
  remove(): void;
}

/** Runs `osls package` into `out`; resolves with its exit code and output once it has exited. */
function runPackage(
  profiles: string,
  stage: string,
  out: string,
  params: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; output: string }> {
  const home = mkdtempSync(join(tmpdir(), 'tb-osls-home-'));
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules/osls/bin/serverless.js'),
        'package',
        '--stage',
        stage,
        '--package',
        out,
        `--param=profiles=${profiles}`,
        ...Object.entries(params).map(([name, value]) => `--param=${name}=${value}`),
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          HOME: home,
          SLS_TELEMETRY_DISABLED: '1',
          SLS_NOTIFICATIONS_MODE: 'off',
          AWS_SDK_LOAD_CONFIG: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.once('error', reject);
    // 'exit', not 'close': esbuild's service process may keep the pipes open; end its group.
    child.once('exit', (exitCode) => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // the group is already gone
      }
      rmSync(home, { recursive: true, force: true });
      resolve({ code: exitCode, output: text });
    });
  });
}

/** Everything the package is built from, hashed: the same sources give the same artifacts. */
function sourceHash(profiles: string, stage: string, params: Readonly<Record<string, string>> = {}): string {
  const hash = createHash('sha256').update(`${profiles}\0${stage}\0${JSON.stringify(params)}\0`);
  const files = ['serverless.yml', 'package-lock.json', profiles];
  // The code, what packaging runs (serverless/: the checks and the roles), and where the
  // profiles' `file:` references usually point (beside the profiles file, examples/).
  const folder = dirname(profiles);
  const dirs = ['lib', 'functions', 'serverless', 'examples', ...(folder === '.' ? [] : [folder])];
  for (const dir of new Set(dirs)) {
    if (!statSync(join(ROOT, dir), { throwIfNoEntry: false })?.isDirectory()) continue;
    for (const f of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).sort()) {
      if (!f.split('/').includes('node_modules')) files.push(join(dir, f));
    }
  }
  for (const file of files) {
    const path = join(ROOT, file);
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) continue;
    hash.update(file).update('\0').update(readFileSync(path));
  }
  return hash.digest('hex').slice(0, 16);
}

/** Longest wait for the repository's packaging lock (other test files packaging before us). */
const PACKAGE_WAIT_MS = 600_000;

/**
 * One `osls package` at a time in this repository, across test files and processes: it
 * builds in the repository's `.esbuild/` and moves the zips through its `.serverless/`, so
 * two at once, even of different profiles files, would mix their files.
 */
const REPO_LOCK = join(
  tmpdir(),
  `tb-package-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}.lock`,
);

/** Whether the lock's holder has gone (it died, or is no process any more). */
function lockAbandoned(): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(REPO_LOCK, 'pid'), 'utf8'));
  } catch {
    // Taken an instant ago (the pid not written yet), or released meanwhile.
    const age = Date.now() - (statSync(REPO_LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    return age > 10_000;
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/**
 * Runs `work` holding {@link REPO_LOCK}. While waiting for it, `ready` is asked first each
 * time: what it gives (another file's packaging of the same sources) ends the wait.
 */
async function underRepoLock<T>(work: () => Promise<T>, ready: () => T | undefined): Promise<T> {
  const deadline = Date.now() + PACKAGE_WAIT_MS;
  for (;;) {
    const already = ready();
    if (already !== undefined) return already;
    try {
      mkdirSync(REPO_LOCK);
    } catch {
      if (lockAbandoned()) rmSync(REPO_LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`waited ${PACKAGE_WAIT_MS} ms for ${REPO_LOCK}`);
      else await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    try {
      writeFileSync(join(REPO_LOCK, 'pid'), String(process.pid));
      return await work();
    } finally {
      rmSync(REPO_LOCK, { recursive: true, force: true });
    }
  }
}

interface Packaging {
  readonly out: string;
  readonly code: number | null;
  readonly output: string;
  /** Whether `out` belongs to this caller alone (removed by its `remove()`), not to the shared cache. */
  readonly own: boolean;
}

/** A finished packaging of the shared cache at `out`, or undefined. */
function cached(out: string): Packaging | undefined {
  const done = join(out, 'packaged.json');
  if (!existsSync(done)) return undefined;
  return {
    out,
    own: false,
    ...(JSON.parse(readFileSync(done, 'utf8')) as { code: number | null; output: string }),
  };
}

/**
 * The packaged service for the current sources: built once, then reused by every test file
 * of the run, and by later runs until a source changes. With `fresh`, `osls package` runs
 * now whatever is cached, into a folder of its own; a successful fresh packaging becomes
 * the cached one when there is none yet.
 */
async function sharedPackage(
  profiles: string,
  stage: string,
  params: Readonly<Record<string, string>>,
  fresh: boolean,
): Promise<Packaging> {
  const out = join(tmpdir(), `tb-package-${sourceHash(profiles, stage, params)}`);
  return underRepoLock(
    async () => {
      const already = fresh ? undefined : cached(out);
      if (already !== undefined) return already;
      const into = fresh ? mkdtempSync(join(tmpdir(), 'tb-package-fresh-')) : out;
      rmSync(into, { recursive: true, force: true });
      mkdirSync(into, { recursive: true });
      const result = await runPackage(profiles, stage, into, params);
      // A failed package is not kept: the next run tries again.
      if (result.code !== 0) return { out: into, own: fresh, ...result };
      writeFileSync(join(into, 'packaged.json'), JSON.stringify(result));
      if (!fresh) return { out, own: false, ...result };
      if (cached(out) !== undefined) return { out: into, own: true, ...result };
      rmSync(out, { recursive: true, force: true });
      renameSync(into, out);
      return { out, own: false, ...result };
    },
    () => (fresh ? undefined : cached(out)),
  );
}

/**
 * Packages the service with `profiles` and extra serverless `params` (`--param=name=value`),
 * once per sources, see {@link sharedPackage}.
 */
export function packageService(
  profiles = PACKAGED_PROFILES,
  stage = 'ci',
  params: Readonly<Record<string, string>> = {},
): Promise<PackagedService> {
  return sharedPackage(profiles, stage, params, false).then(packaged);
}

/** Like {@link packageService}, but runs `osls package` now, whatever an earlier run left cached. */
export function packageFresh(
  profiles = PACKAGED_PROFILES,
  stage = 'ci',
  params: Readonly<Record<string, string>> = {},
): Promise<PackagedService> {
  return sharedPackage(profiles, stage, params, true).then(packaged);
}

function packaged({ out, code, output, own }: Packaging): PackagedService {
  let resources: Record<string, Resource> = {};
  if (code === 0) {
    resources = (
      JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as {
        Resources: Record<string, Resource>;
      }
    ).Resources;
  }
  const unpackedRoot = mkdtempSync(join(tmpdir(), 'tb-unpacked-'));
  const unpacked = new Map<FunctionName, string>();
  return {
    out,
    code,
    output,
    resources,
    unpack(name) {
      let dir = unpacked.get(name);
      if (dir === undefined) {
        dir = join(unpackedRoot, name);
        unzip(join(out, `${name}.zip`), dir);
        unpacked.set(name, dir);
      }
      return dir;
    },
    remove() {
      rmSync(unpackedRoot, { recursive: true, force: true });
      if (own) rmSync(out, { recursive: true, force: true });
    },
  };
}

/** The CloudFormation logical id of a function's resource (osls naming). */
export function functionResourceId(name: FunctionName): string {
  return `${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`;
}
