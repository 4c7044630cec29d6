/**
 * One Lambda "container" for tests: a Runtime API server on 127.0.0.1 and a Node process
 * running test/support/lambda-bootstrap.mjs against it, with the function's unpacked
 * artifact as LAMBDA_TASK_ROOT. Invocations go through the Runtime API one at a time, as
 * Lambda sends them; the process stays warm between them. The process runs on the Node.js
 * major of the function's runtime (test/support/lambda-node.ts picks the binary), and the
 * container refuses to start when the version the process reports is another major.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { findLambdaNode, runtimeMajor, versionMajor } from './lambda-node.ts';

const BOOTSTRAP = join(import.meta.dirname, 'lambda-bootstrap.mjs');
const PREFIX = '/2018-06-01/runtime';

/** What an invocation ended with: the handler's result, or the error the runtime reported. */
export type InvocationResult =
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly error: { errorType: string; errorMessage: string } };

/** Options of {@link startContainer}. */
export interface ContainerOptions {
  /** The unpacked artifact (LAMBDA_TASK_ROOT unless `env` overrides it). */
  readonly taskRoot: string;
  /** `_HANDLER`, e.g. `functions/token.handler`. */
  readonly handler: string;
  readonly functionName: string;
  /** The function's Lambda runtime from the template (`Runtime`, e.g. `nodejs22.x`): picks the Node.js. */
  readonly runtime: string;
  /** The function's environment (from the template) plus the test's endpoints and credentials. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory of the process; default the task root, as on Lambda. */
  readonly cwd?: string;
  /** Function timeout in seconds (the deadline each invocation gets); default 28. */
  readonly timeoutSeconds?: number;
  /**
   * Stop the process (SIGSTOP) while it waits for the next invocation, and continue it
   * (SIGCONT) when one comes, as Lambda freezes an execution environment once the handler
   * has settled; default true. Work left running after an answer then stops where it is.
   */
  readonly freeze?: boolean;
}

/** A warm container. */
export interface Container {
  /** The Node.js the process runs on: its binary, why that one, and the version the process reported. */
  readonly node: { readonly path: string; readonly why: string; readonly version: string };
  invoke(event: unknown): Promise<InvocationResult>;
  /** True while the process is stopped between invocations. */
  frozen(): boolean;
  /** Everything the process wrote to stdout and stderr (its CloudWatch log stream). */
  output(): string;
  close(): Promise<void>;
}

interface Pending {
  readonly id: string;
  readonly event: unknown;
  readonly done: (result: InvocationResult) => void;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The Node.js version a runtime client names in its User-Agent (`aws-lambda-nodejs/v22.1.0 …`). */
function reportedVersion(req: IncomingMessage): string | undefined {
  return /\baws-lambda-nodejs\/(v\d+\.\d+\.\d+)/.exec(req.headers['user-agent'] ?? '')?.[1];
}

/**
 * Starts the Runtime API and the runtime process; resolves once the process has reported
 * its Node.js version through its first request.
 *
 * @throws Error when no Node.js of the runtime's major is found (the line says how to get
 *   one), or when the process reports another major or exits without a request.
 */
export async function startContainer(options: ContainerOptions): Promise<Container> {
  const node = findLambdaNode(options.runtime);
  if ('missing' in node) throw new Error(node.missing);
  const queue: Pending[] = [];
  const waiting: ((p: Pending) => void)[] = [];
  const inFlight = new Map<string, Pending>();
  let initError: { errorType: string; errorMessage: string } | undefined;
  const timeoutMs = (options.timeoutSeconds ?? 28) * 1000;
  let reported: ((version: string | undefined) => void) | undefined;
  const firstReport = new Promise<string | undefined>((resolve) => (reported = resolve));

  const server: Server = createServer((req, res) => {
    reported?.(reportedVersion(req));
    reported = undefined;
    const url = req.url ?? '';
    if (req.method === 'GET' && url === `${PREFIX}/invocation/next`) {
      const send = (p: Pending) => {
        inFlight.set(p.id, p);
        res.writeHead(200, {
          'content-type': 'application/json',
          'lambda-runtime-aws-request-id': p.id,
          'lambda-runtime-deadline-ms': String(Date.now() + timeoutMs),
          'lambda-runtime-invoked-function-arn': `arn:aws:lambda:eu-west-1:123456789012:function:${options.functionName}`,
          'lambda-runtime-trace-id': `Root=1-${Date.now().toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Sampled=0`,
        });
        res.end(JSON.stringify(p.event));
      };
      const next = queue.shift();
      if (next) send(next);
      else {
        waiting.push(send);
        // Nothing to do: Lambda freezes the environment until the next event.
        freeze();
      }
      return;
    }
    void readBody(req).then((text) => {
      const match = /^\/2018-06-01\/runtime\/(?:invocation\/([^/]+)\/(response|error)|init\/error)$/.exec(
        url,
      );
      if (req.method !== 'POST' || match === null) {
        res.writeHead(404).end();
        return;
      }
      const [, id, kind] = match;
      if (id === undefined) {
        initError = JSON.parse(text) as { errorType: string; errorMessage: string };
        for (const p of inFlight.values()) p.done({ ok: false, error: initError });
        for (const p of queue.splice(0)) p.done({ ok: false, error: initError });
      } else {
        const pending = inFlight.get(id);
        inFlight.delete(id);
        pending?.done(
          kind === 'response'
            ? { ok: true, payload: JSON.parse(text) as unknown }
            : { ok: false, error: JSON.parse(text) as { errorType: string; errorMessage: string } },
        );
      }
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const api = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  let output = '';
  let frozen = false;
  const freezing = options.freeze ?? true;
  const freeze = (): void => {
    if (!freezing || frozen || child.exitCode !== null) return;
    frozen = child.kill('SIGSTOP');
  };
  const thaw = (): void => {
    if (!frozen) return;
    frozen = false;
    child.kill('SIGCONT');
  };
  const child: ChildProcess = spawn(node.path, [BOOTSTRAP], {
    cwd: options.cwd ?? options.taskRoot,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      AWS_EXECUTION_ENV: `AWS_Lambda_${options.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: options.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.functionName}`,
      AWS_LAMBDA_LOG_STREAM_NAME: '2030/01/01/[$LATEST]0123456789abcdef',
      AWS_LAMBDA_RUNTIME_API: api,
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      LAMBDA_TASK_ROOT: options.taskRoot,
      _HANDLER: options.handler,
      TB_TEST_HANDLER_ROOT: options.taskRoot,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      output += `${error.message}\n`;
      resolve();
    });
  });
  const close = async () => {
    child.kill('SIGKILL');
    await exited;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  const first = await Promise.race([firstReport, exited.then(() => 'ended' as const)]);
  const major = runtimeMajor(options.runtime);
  if (first === undefined || first === 'ended' || versionMajor(first) !== major) {
    await close();
    const said =
      first === 'ended'
        ? `ended before its first request: ${output.trim()}`
        : first === undefined
          ? 'named no aws-lambda-nodejs/<version> in its User-Agent'
          : `reports Node.js ${first}; ${options.runtime} needs ${major}`;
    throw new Error(`${options.functionName}: the runtime process (${node.path}) ${said}`);
  }

  return {
    node: { path: node.path, why: node.why, version: first },
    invoke(event) {
      if (initError) return Promise.resolve({ ok: false, error: initError });
      return new Promise<InvocationResult>((done) => {
        const pending = { id: randomUUID(), event, done };
        const waiter = waiting.shift();
        if (waiter) {
          thaw();
          waiter(pending);
        } else queue.push(pending);
      });
    },
    frozen: () => frozen,
    output: () => output,
    close,
  };
}
