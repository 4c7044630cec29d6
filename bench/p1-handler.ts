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
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '../lib/http/event.ts';
import { apiEvent, lambdaContext } from '../test/functions/events.ts';
import { summarize, type Summary } from './stats.ts';
import { demoConfigYaml, startDemoAuthorizationServer, writeTempConfig } from './support.ts';

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

/**
 * A fresh API Gateway HTTP API (payload 2.0) event, as API Gateway sends it with IAM
 * auth, with the forwarding headers it adds.
 */
function tokenEvent(): HttpEvent {
  return apiEvent({
    body: '{"profile":"demo"}',
    userArn: CALLER_ARN,
    headers: {
      'content-length': '18',
      'user-agent': 'bench',
      'x-amzn-trace-id': 'Root=1-00000000-000000000000000000000000',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
  });
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
  const authorization = await startDemoAuthorizationServer();
  const temp = await writeTempConfig(
    'token-broker-p1-',
    demoConfigYaml(authorization.tokenUrl, {
      subjects: "['*@example.com']",
      callers: "['arn:aws:iam::123456789012:role/billing-*']",
    }),
  );
  try {
    process.env['TOKEN_BROKER_CONFIG'] = temp.file;
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
    await temp.remove();
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
