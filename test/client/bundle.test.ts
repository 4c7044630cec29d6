/**
 * The client as a Lambda function ships it: bundled by esbuild as serverless.yml bundles
 * the broker's own functions (ESM with a `require` shim for CommonJS dependencies), then
 * run by plain `node` (no TypeScript loader, no node_modules) against a SigV4-verifying
 * server.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBroker, tokenBody, type FakeBroker } from './fake-broker.ts';
import { ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY } from './sigv4-fixtures.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

let broker: FakeBroker;
let dir: string;
let metafile: Metafile;

beforeAll(async () => {
  broker = await startFakeBroker(Date.now);
  broker.answer = () => ({ status: 200, json: tokenBody('bundled', 300, Date.now()) });
  dir = await mkdtemp(join(tmpdir(), 'token-broker-client-bundle-'));
  const result = await build({
    entryPoints: [join(ROOT, 'lib/client/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    outfile: join(dir, 'client.mjs'),
    metafile: true,
    logLevel: 'silent',
  });
  metafile = result.metafile;
});

afterAll(async () => {
  await broker.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the bundled client', () => {
  it('pulls in nothing of the broker itself, only lib/client', () => {
    const own = Object.keys(metafile.inputs).filter((p) => !p.includes('node_modules/'));
    expect(own.length).toBeGreaterThan(0);
    expect(own.filter((p) => !/(^|\/)lib\/client\/[^/]+\.ts$/.test(p))).toEqual([]);
  });

  it('gets a token under plain node, signing with credentials from the environment', async () => {
    const script = join(dir, 'main.mjs');
    await writeFile(
      script,
      `import { TokenBrokerClient } from './client.mjs';
const broker = new TokenBrokerClient({ endpoint: process.env.BROKER_URL, region: process.env.AWS_REGION });
const token = await broker.getToken({ profile: 'docusign' });
process.stdout.write(JSON.stringify({ tokenType: token.tokenType, accessToken: token.accessToken }));
`,
    );
    // The default credential chain reads the standard variables, as it does in Lambda.
    const { stdout } = await run(process.execPath, [script], {
      cwd: dir,
      timeout: 15_000,
      env: {
        PATH: process.env['PATH'],
        BROKER_URL: broker.endpoint,
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN: 'session-token-value',
        AWS_CONFIG_FILE: join(dir, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
      },
    });
    expect(JSON.parse(stdout)).toEqual({ tokenType: 'Bearer', accessToken: 'bundled' });
    expect(broker.requests.at(-1)?.caller).toEqual({
      id: expect.stringMatching(/^arn:aws:iam::/),
      kind: 'iam',
    });
  });
});
