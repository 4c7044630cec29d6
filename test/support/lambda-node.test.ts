/**
 * The Node.js the packaged functions run on in the artefact tests: the binary for a runtime,
 * and the packaged functions themselves reporting the major of their template's `Runtime`.
 */
import { arch, platform } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULED_EVENT } from '../functions/events.ts';
import {
  findLambdaNode,
  LAMBDA_NODE_PATH,
  runtimeMajor,
  serviceRuntime,
  skipWithoutLambdaNode,
  versionMajor,
} from './lambda-node.ts';
import { startContainer, type Container } from './lambda-runtime.ts';
import {
  FUNCTIONS,
  functionResourceId,
  packageService,
  type FunctionName,
  type PackagedService,
} from './osls-package.ts';

const MACHINE_MAJOR = versionMajor(process.version);

describe('findLambdaNode', () => {
  it('reads the major from a Lambda Node.js runtime and refuses anything else', () => {
    expect(runtimeMajor('nodejs22.x')).toBe(22);
    expect(() => runtimeMajor('python3.12')).toThrow(
      new TypeError('python3.12 is not a Lambda Node.js runtime (nodejsNN.x)'),
    );
  });

  it("takes the machine's node when its major is the runtime's", () => {
    expect(findLambdaNode(`nodejs${MACHINE_MAJOR}.x`, '/nonexistent/node')).toEqual({
      path: process.execPath,
      version: process.version,
      why: `the machine's node is nodejs${MACHINE_MAJOR}.x's major`,
    });
  });

  it.runIf(platform() === 'linux' && arch() === 'x64' && MACHINE_MAJOR !== 22)(
    "takes test/lambda-node's node for nodejs22.x, where the machine's is another major",
    () => {
      const found = findLambdaNode('nodejs22.x');
      expect(found).toMatchObject({ path: LAMBDA_NODE_PATH });
      expect('version' in found && versionMajor(found.version)).toBe(22);
    },
  );

  it('says in one line how to get a Node.js of the major when none is found', () => {
    const runtime = `nodejs${MACHINE_MAJOR + 1}.x`;
    expect(findLambdaNode(runtime, '/nonexistent/node')).toEqual({
      missing:
        `no Node.js ${MACHINE_MAJOR + 1} for the functions' runtime ${runtime} (the machine's node is ` +
        `${process.version}, test/lambda-node has none): run "npm ci --prefix test/lambda-node" ` +
        `(Linux x64), or run the tests on Node.js ${MACHINE_MAJOR + 1}`,
    });
  });

  it('fails under CI=true instead of skipping the suite', () => {
    const missing = { missing: 'no Node.js 99 for the functions' };
    expect(() => skipWithoutLambdaNode('suite', { CI: 'true' }, missing)).toThrow(
      'no Node.js 99 for the functions (CI=true needs it)',
    );
    expect(skipWithoutLambdaNode('suite', { CI: 'true' }, findLambdaNode(`nodejs${MACHINE_MAJOR}.x`))).toBe(
      false,
    );
  });
});

const runtime = serviceRuntime();
const found = findLambdaNode(runtime);

const TITLE = 'packaged functions on their runtime';
if (!skipWithoutLambdaNode(TITLE, process.env, found)) {
  describe(TITLE, () => {
    let packaged: PackagedService;
    const containers: Container[] = [];
    beforeAll(async () => {
      packaged = await packageService();
      expect(packaged.code, packaged.output).toBe(0);
    }, 600_000);
    afterAll(async () => {
      await Promise.all(containers.map((c) => c.close()));
      packaged?.remove();
    });

    /** A container of `name` on its template's runtime, with AWS endpoints that refuse connections. */
    async function container(name: FunctionName): Promise<Container> {
      const resource = packaged.resources[functionResourceId(name)]!;
      const variables = resource.Properties['Environment'].Variables as Record<string, unknown>;
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(variables)) {
        env[key] = typeof value === 'string' ? value : 'token-broker-ci-cache';
      }
      const started = await startContainer({
        taskRoot: packaged.unpack(name),
        handler: FUNCTIONS[name],
        functionName: `token-broker-ci-${name}`,
        runtime: String(resource.Properties['Runtime']),
        env: {
          ...env,
          AWS_ACCESS_KEY_ID: 'AKIDLAMBDANODE',
          AWS_SECRET_ACCESS_KEY: 'lambda-node-not-a-secret',
          AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
        },
      });
      containers.push(started);
      return started;
    }

    it(`every function's process reports the major of its template's runtime (${runtime})`, async () => {
      for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
        const resource = packaged.resources[functionResourceId(name)]!;
        const major = runtimeMajor(String(resource.Properties['Runtime']));
        const c = await container(name);
        expect(versionMajor(c.node.version), `${name}: ${c.node.version} from ${c.node.path}`).toBe(major);
        expect(c.node.path).toBe('missing' in found ? undefined : found.path);
      }
    });

    it("builds AWS SDK clients without the SDK's Node.js version notice", async () => {
      // The scheduled refresh reads the table: a DynamoDB client is built and its call refused.
      const c = await container('refresh');
      await c.invoke(SCHEDULED_EVENT);
      expect(c.output()).toMatch(/127\.0\.0\.1:9/);
      expect(c.output()).not.toContain('NodeVersionSupportWarning');
    });
  });
}
