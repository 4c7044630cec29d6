/**
 * Row P1: the Lambda token handler (`functions/token.ts`, as deployed: Powertools logger
 * and metrics, the whole middy stack, caller identity, body validation, the broker's
 * in-process cache) answering warm cache hits for an API Gateway v2 event, against the
 * smallest handler a user would write for the same output: middy, `JSON.parse` of the
 * body, a `Map` lookup returning a fixed token, one Powertools log line with the same
 * fields as the broker's audit line, and one EMF metric flushed per invocation. Both run
 * in one child process whose stdout (where Powertools writes logs and EMF metrics, as on
 * Lambda) goes to /dev/null; calls are interleaved so machine drift hits both alike.
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
import { createHash } from 'node:crypto';
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '../lib/http/event.ts';
import type { FlushableMetrics, Logger } from '../lib/types.ts';
import { apiEvent, lambdaContext } from '../test/functions/events.ts';
import { summarize, type Summary } from './stats.ts';
import { demoConfigYaml, startDemoAuthorizationServer, writeTempConfig } from './support.ts';

const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/billing-reports/bench-session';

/** What one P1 measurement returns; times in microseconds per call. */
export interface HandlerHitResult {
  /** Wall-clock time per call. */
  readonly handler: Summary;
  /** The peer handler: middy + one Powertools log line + one EMF metric + a Map lookup. */
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

/**
 * The peer: what a user would write by hand for the same answer, audit line and metric,
 * with the token already known (a `Map` from profile to a fixed token).
 */
function peerHandler(token: Record<string, unknown>): Invoke {
  const logger = new PowertoolsLogger({ serviceName: 'token-broker', logLevel: 'INFO' });
  const metrics = new PowertoolsMetrics({ namespace: 'TokenBroker', serviceName: 'token-broker' });
  const accessToken = String(token['access_token']);
  const tokens = new Map([
    [
      'demo',
      {
        body: JSON.stringify(token),
        subject: 'demo-user@example.com',
        scope: String(token['scope']),
        fingerprint: createHash('sha256').update(accessToken).digest('hex').slice(0, 8),
      },
    ],
  ]);
  return middy<HttpEvent, HttpResult>().handler(async (event) => {
    const { profile } = JSON.parse(event.body ?? '{}') as { profile?: string };
    const hit = tokens.get(profile ?? '');
    if (!hit) throw new Error(`P1 peer: unknown profile ${String(profile)}`);
    logger.info('token issued', {
      caller: event.requestContext.authorizer?.iam?.userArn,
      profile,
      subject: hit.subject,
      scope: hit.scope,
      cached: true,
      fingerprint: hit.fingerprint,
    });
    metrics.addMetric('TokensIssued', MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    return {
      statusCode: 200,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
      body: hit.body,
    };
  }) as unknown as Invoke;
}

/**
 * The measurement itself; runs in the child process (stdout is /dev/null there). With
 * `bundle`, the handler is that packaged build's export and there are no variants.
 */
async function measureInChild(runs: number, bundle?: string): Promise<HandlerHitResult> {
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
    if (bundle !== undefined) return await measurePackaged(runs, bundle, authorization.requestCount);
    const { handler, createTokenHandler } = await import('../functions/token.ts');
    const { getRuntime } = await import('../lib/runtime.ts');
    const { httpHandler } = await import('../lib/http/stack.ts');
    const { jsonResult } = await import('../lib/http/event.ts');
    const { silentLogger } = await import('../lib/types.ts');
    const { createBroker } = await import('../lib/broker/index.ts');
    const { createSecretResolver } = await import('../lib/secrets/index.ts');
    const { createPowertoolsLogger, createPowertoolsMetrics } =
      await import('../lib/observability/powertools.ts');

    // The first call is the miss that fills the cache.
    const first = await handler(tokenEvent(), lambdaContext());
    if (first.statusCode !== 200)
      throw new Error(`P1: first call answered ${first.statusCode}: ${first.body}`);
    if (authorization.requestCount() !== 1) throw new Error('P1: expected exactly one upstream request');

    const token = JSON.parse(first.body) as Record<string, unknown>;
    const bare: Invoke = peerHandler(token);
    // The shared stack around a static answer: what the middleware alone costs.
    const stackOnly = httpHandler({ logger: silentLogger }, async () => jsonResult(200, token));
    // The same handler on its own broker with the logger and metrics switched one at a
    // time: where the cost of the audit line and of EMF lies.
    const { config } = await getRuntime();
    const secrets = createSecretResolver({ env: {}, cwd: dirname(config.source) });
    const variant = (logger: Logger, metrics?: FlushableMetrics): Invoke =>
      createTokenHandler({ broker: createBroker({ config, secrets, logger, metrics }), logger, metrics });
    const variants: Record<string, Invoke> = {
      'middy stack, static body': stackOnly,
      'handler, silent logger, no metrics': variant(silentLogger),
      'handler, Powertools logger, no metrics': variant(createPowertoolsLogger()),
      'handler, silent logger, Powertools metrics': variant(silentLogger, createPowertoolsMetrics()),
    };
    let upstream = 1;
    for (const [name, fn] of Object.entries(variants).slice(1)) {
      const warm = await fn(tokenEvent(), lambdaContext());
      if (warm.statusCode !== 200) throw new Error(`P1: first call of "${name}" answered ${warm.statusCode}`);
      upstream++;
    }

    const warmup = Math.min(2000, runs);
    const { wall, cpu } = await timeRoundRobin([handler, bare, ...Object.values(variants)], runs, warmup);
    if (authorization.requestCount() !== upstream)
      throw new Error('P1: a timed call reached the authorization server');
    return {
      handler: summarize(wall[0]!),
      baseline: summarize(wall[1]!),
      handlerCpu: summarize(cpu[0]!),
      baselineCpu: summarize(cpu[1]!),
      breakdown: Object.fromEntries(Object.keys(variants).map((name, i) => [name, summarize(wall[i + 2]!)])),
    };
  } finally {
    await authorization.close();
    await temp.remove();
  }
}

/** P1 against a packaged build's handler (`functions/token.mjs`): the handler and the peer only. */
async function measurePackaged(
  runs: number,
  bundle: string,
  upstream: () => number,
): Promise<HandlerHitResult> {
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Invoke };
  const first = await handler(tokenEvent(), lambdaContext());
  if (first.statusCode !== 200) throw new Error(`P1: first call answered ${first.statusCode}: ${first.body}`);
  if (upstream() !== 1) throw new Error('P1: expected exactly one upstream request');
  const bare = peerHandler(JSON.parse(first.body) as Record<string, unknown>);
  const { wall, cpu } = await timeRoundRobin([handler, bare], runs, Math.min(2000, runs));
  if (upstream() !== 1) throw new Error('P1: a timed call reached the authorization server');
  return {
    handler: summarize(wall[0]!),
    baseline: summarize(wall[1]!),
    handlerCpu: summarize(cpu[0]!),
    baselineCpu: summarize(cpu[1]!),
    breakdown: {},
  };
}

/** Where P1 runs: the machine's node on the source, or another node on a packaged build. */
export interface HandlerHitTarget {
  /** The Node.js binary of the child (default: this process's). */
  readonly node?: string;
  /** A packaged build's `functions/token.mjs` (default: functions/token.ts through tsx). */
  readonly bundle?: string;
}

/**
 * Runs P1 in a child process and returns its numbers (µs per call).
 * @throws Error when the child fails or a call does not answer 200
 */
export function measureHandlerHit(runs = 20_000, target: HandlerHitTarget = {}): Promise<HandlerHitResult> {
  return new Promise((resolve, reject) => {
    const args = ['--child', String(runs), ...(target.bundle === undefined ? [] : [target.bundle])];
    const child = fork(fileURLToPath(import.meta.url), args, {
      execArgv: ['--import', 'tsx'],
      ...(target.node === undefined ? {} : { execPath: target.node }),
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
    const result = await measureInChild(Number(process.argv[3] ?? 20_000), process.argv[4]);
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
  console.log(row('peer: middy + log + EMF + Map', r.baseline));
  console.log(row('token handler, CPU time', r.handlerCpu));
  console.log(row('peer, CPU time', r.baselineCpu));
  for (const [name, s] of Object.entries(r.breakdown)) console.log(row(name, s));
}
