/**
 * Row P1: the Lambda token handler (`functions/token.ts`, as deployed: Powertools logger
 * and metrics, the whole middy stack, caller identity, body validation, the broker's
 * in-process cache) answering warm cache hits for an API Gateway v2 event, against a
 * bare middy handler returning a static JSON body. Both run in one child process whose
 * stdout (where Powertools writes logs and EMF metrics, as on Lambda) goes to /dev/null;
 * calls are interleaved so machine drift hits both alike.
 *
 * The handler is the real module export: `TOKEN_BROKER_CONFIG` points at a temporary
 * config whose profile uses the demo JKS keystore and the development authorization
 * server on 127.0.0.1, which serves the first (missing) token; every timed call is a hit.
 *
 *   node --import tsx bench/p1-handler.ts [runs]
 */
import { fork } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '../lib/http/event.ts';
import { summarize, type Summary } from './stats.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEMO = join(ROOT, 'examples/local');
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/billing-reports/bench-session';

/** What one P1 measurement returns; times in microseconds per call. */
export interface HandlerHitResult {
  /** Wall-clock time per call. */
  readonly handler: Summary;
  readonly baseline: Summary;
  /**
   * Process CPU time per call (`process.cpuUsage`): unlike wall-clock time it leaves out
   * the time the process waits preempted, which dominates the wall-clock p99 on a loaded machine.
   */
  readonly handlerCpu: Summary;
  readonly baselineCpu: Summary;
  /** Variants that locate the cost (same child, same run), microseconds. */
  readonly breakdown: Readonly<Record<string, Summary>>;
}

function configYaml(tokenUrl: string): string {
  return `profiles:
  demo:
    provider: generic
    issuer: demo-client
    subject: demo-user@example.com
    subjects: ['*@example.com']
    tokenUri: POST ${tokenUrl}
    audience: token-broker-demo
    scope: read write
    certStore: file:${join(DEMO, 'demo-keystore.jks')}
    certStoreType: jks
    certPassword: file:${join(DEMO, 'demo-keystore.password')}
    certAlias: demo
    callers: ['arn:aws:iam::123456789012:role/billing-*']
`;
}

/** A fresh API Gateway HTTP API (payload 2.0) event, as API Gateway sends it with IAM auth. */
function tokenEvent(): HttpEvent {
  return {
    version: '2.0',
    routeKey: 'POST /token',
    rawPath: '/token',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'content-length': '18',
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      'user-agent': 'bench',
      'x-amzn-trace-id': 'Root=1-00000000-000000000000000000000000',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: {
        method: 'POST',
        path: '/token',
        protocol: 'HTTP/1.1',
        sourceIp: '10.0.0.1',
        userAgent: 'bench',
      },
      requestId: 'req-1',
      routeKey: 'POST /token',
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1893456000000,
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '123456789012',
          userArn: CALLER_ARN,
          userId: 'AROAEXAMPLE:bench',
        },
      },
    },
    isBase64Encoded: false,
    body: '{"profile":"demo"}',
  };
}

function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'token-broker-bench-token',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:token-broker-bench-token',
    memoryLimitInMB: '512',
    awsRequestId: 'bench',
    logGroupName: '/aws/lambda/token-broker-bench-token',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 28_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

type Invoke = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/**
 * Times the functions round-robin, one call each per round, on fresh events; wall-clock
 * and CPU µs per call.
 */
async function timeRoundRobin(
  fns: readonly Invoke[],
  runs: number,
  warmup: number,
): Promise<{ wall: number[][]; cpu: number[][] }> {
  const context = lambdaContext();
  const wall = fns.map(() => [] as number[]);
  const cpu = fns.map(() => [] as number[]);
  for (let i = 0; i < warmup + runs; i++) {
    for (const [k, fn] of fns.entries()) {
      const event = tokenEvent();
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const result = await fn(event, context);
      const micros = (performance.now() - start) * 1000;
      const used = process.cpuUsage(cpuStart);
      if (result.statusCode !== 200) throw new Error(`P1: status ${result.statusCode}: ${result.body}`);
      if (i >= warmup) {
        wall[k]!.push(micros);
        cpu[k]!.push(used.user + used.system);
      }
    }
  }
  return { wall, cpu };
}

/** The measurement itself; runs in the child process (stdout is /dev/null there). */
async function measureInChild(runs: number): Promise<HandlerHitResult> {
  const { startAuthorizationServer } = await import('../lib/dev/authorization-server.ts');
  const authorization = await startAuthorizationServer({
    clients: [
      { clientId: 'demo-client', certificatePem: await readFile(join(DEMO, 'demo-cert.pem'), 'utf8') },
    ],
    audience: ['token-broker-demo'],
    tokenTtl: 3600,
  });
  const dir = await mkdtemp(join(tmpdir(), 'token-broker-p1-'));
  try {
    const file = join(dir, 'token-broker.yaml');
    await writeFile(file, configYaml(authorization.tokenUrl));
    process.env['TOKEN_BROKER_CONFIG'] = file;
    const { handler, createTokenHandler } = await import('../functions/token.ts');
    const { getRuntime } = await import('../lib/runtime.ts');
    const { httpHandler } = await import('../lib/http/stack.ts');
    const { jsonResult } = await import('../lib/http/event.ts');
    const { silentLogger } = await import('../lib/types.ts');
    const { createBroker } = await import('../lib/broker.ts');
    const { createSecretResolver } = await import('../lib/secrets/index.ts');

    // The first call is the miss that fills the cache.
    const first = await handler(tokenEvent(), lambdaContext());
    if (first.statusCode !== 200)
      throw new Error(`P1: first call answered ${first.statusCode}: ${first.body}`);
    if (authorization.requestCount() !== 1) throw new Error('P1: expected exactly one upstream request');

    const token = JSON.parse(first.body) as Record<string, unknown>;
    const staticBody = JSON.stringify(token);
    const bare: Invoke = middy<HttpEvent, HttpResult>().handler(async () => ({
      statusCode: 200,
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      body: staticBody,
    })) as unknown as Invoke;
    // The shared stack around a static answer: what the middleware alone costs.
    const stackOnly = httpHandler({ logger: silentLogger }, async () => jsonResult(200, token));
    // The same handler and broker with a silent logger and no metrics: what logs and EMF cost.
    const { config } = await getRuntime();
    const secrets = createSecretResolver({ env: {}, cwd: dirname(config.source) });
    const quiet = createTokenHandler({ broker: createBroker({ config, secrets }), logger: silentLogger });
    const second = await quiet(tokenEvent(), lambdaContext());
    if (second.statusCode !== 200) throw new Error(`P1: first quiet call answered ${second.statusCode}`);

    const warmup = Math.min(2000, runs);
    const { wall, cpu } = await timeRoundRobin([handler, bare, stackOnly, quiet], runs, warmup);
    const [h, b, s, q] = wall;
    if (authorization.requestCount() !== 2)
      throw new Error('P1: a timed call reached the authorization server');
    return {
      handler: summarize(h!),
      baseline: summarize(b!),
      handlerCpu: summarize(cpu[0]!),
      baselineCpu: summarize(cpu[1]!),
      breakdown: {
        'middy stack, static body': summarize(s!),
        'handler, silent logger, no metrics': summarize(q!),
      },
    };
  } finally {
    await authorization.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs P1 in a child process and returns its numbers (µs per call).
 * @throws Error when the child fails or a call does not answer 200
 */
export function measureHandlerHit(runs = 20_000): Promise<HandlerHitResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--child', String(runs)], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, AWS_REGION: 'eu-west-1', POWERTOOLS_DEV: '' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
    });
    let result: HandlerHitResult | undefined;
    child.once(
      'message',
      (message: { ok: true; result: HandlerHitResult } | { ok: false; error: string }) => {
        if (message.ok) result = message.result;
        else reject(new Error(message.error));
      },
    );
    child.once('exit', (code) => {
      if (result) resolve(result);
      else
        reject(new Error(`P1 child exited with ${code}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

const self = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (self && process.argv[2] === '--child') {
  try {
    const result = await measureInChild(Number(process.argv[3] ?? 20_000));
    process.send!({ ok: true, result });
  } catch (err) {
    process.send!({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
  process.disconnect();
} else if (self) {
  const r = await measureHandlerHit(Number(process.argv[2] ?? 20_000));
  const row = (name: string, s: Summary): string =>
    `${name.padEnd(38)} ${s.min.toFixed(1).padStart(8)} ${s.median.toFixed(1).padStart(8)} ${s.p99.toFixed(1).padStart(8)}  (${s.runs} runs)`;
  console.log(
    `${'P1, µs per call'.padEnd(38)} ${'min'.padStart(8)} ${'median'.padStart(8)} ${'p99'.padStart(8)}`,
  );
  console.log(row('token handler, cache hit', r.handler));
  console.log(row('bare middy, static JSON', r.baseline));
  console.log(row('token handler, CPU time', r.handlerCpu));
  console.log(row('bare middy, CPU time', r.baselineCpu));
  for (const [name, s] of Object.entries(r.breakdown)) console.log(row(name, s));
}
