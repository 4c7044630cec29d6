/**
 * Packages the service as a deployment would (`osls package`), offline-safe: its own HOME,
 * telemetry off, no AWS credentials, artifacts in a temporary folder. Used by the template
 * test and by the artefact tests, which run the packaged zips.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzip } from './unzip.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The profiles file packaged by the tests (serverless.yml `params.profiles`). */
export const PACKAGED_PROFILES = 'examples/local/token-broker.yaml';

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
  /** Unpacks a function's zip (once) and returns the folder, as Lambda's /var/task. */
  unpack(name: FunctionName): string;
  /** Removes the artifacts and the temporary HOME. */
  remove(): void;
}

/** Runs `osls package --stage ci` with `profiles`; resolves when it has exited. */
export async function packageService(profiles = PACKAGED_PROFILES, stage = 'ci'): Promise<PackagedService> {
  const home = mkdtempSync(join(tmpdir(), 'tb-osls-home-'));
  const out = mkdtempSync(join(tmpdir(), 'tb-osls-out-'));
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
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
      resolve({ code: exitCode, output: text });
    });
  });
  let resources: Record<string, Resource> = {};
  if (code === 0) {
    resources = (
      JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as {
        Resources: Record<string, Resource>;
      }
    ).Resources;
  }
  const unpacked = new Map<FunctionName, string>();
  return {
    out,
    code,
    output,
    resources,
    unpack(name) {
      let dir = unpacked.get(name);
      if (dir === undefined) {
        dir = join(out, `unpacked-${name}`);
        unzip(join(out, `${name}.zip`), dir);
        unpacked.set(name, dir);
      }
      return dir;
    },
    remove() {
      rmSync(home, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    },
  };
}

/** The CloudFormation logical id of a function's resource (osls naming). */
export function functionResourceId(name: FunctionName): string {
  return `${name[0]!.toUpperCase()}${name.slice(1)}LambdaFunction`;
}
