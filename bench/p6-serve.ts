/**
 * Row P6: `token-broker serve` answering cache hits on loopback under autocannon, against
 * the smallest `node:http` server doing the same work: it reads and `JSON.parse`s the
 * body, looks the profile's token up in a `Map`, writes one JSON log line per request
 * (the broker's audit fields, to stderr, which is a file as for the broker) and answers
 * the same JSON with the same headers. Each server runs in its own child
 * process (the broker through `bin/token-broker.js`, exactly as a user starts it, logs to
 * a file), and autocannon runs here with identical settings, one server after the other,
 * in rounds (broker, peer, broker, peer, …); the row's ratio is the median round's.
 *
 *   node --import tsx bench/p6-serve.ts [seconds] [connections] [rounds]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import {
  demoConfigYaml,
  listening,
  ROOT,
  startDemoAuthorizationServer,
  stop,
  writeTempConfig,
} from './support.ts';
const BODY = '{"profile":"demo"}';

/** Throughput of one server; requests/s over per-second samples, latency in ms. */
export interface LoadResult {
  readonly average: number;
  readonly min: number;
  readonly median: number;
  readonly p99: number;
  readonly seconds: number;
  readonly requests: number;
  readonly latencyP99: number;
}

/** What {@link measureServe} returns. */
export interface ServeResult {
  /** The round whose ratio is the median of the rounds'. */
  readonly broker: LoadResult;
  readonly baseline: LoadResult;
  /** broker / baseline mean req/s of each round, in the order run. */
  readonly ratios: readonly number[];
  /** The median of {@link ratios}. */
  readonly ratio: number;
  readonly connections: number;
  /** Token requests that reached the authorization server (1: every timed request was a hit). */
  readonly upstreamRequests: number;
}

/**
 * The peer server: parses the JSON body, finds the token by profile in a Map, writes one
 * JSON log line per request and answers with the broker's headers and body.
 */
const PEER_SERVER = `
import { createServer } from 'node:http';
const { headers, body, audit } = JSON.parse(process.argv[1]);
const tokens = new Map([['demo', { body, audit }]]);
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const { profile } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const hit = tokens.get(profile);
    if (!hit) { res.writeHead(404).end(); return; }
    process.stderr.write(JSON.stringify({ ...hit.audit, level: 'INFO', message: 'token issued', service: 'token-broker', timestamp: new Date().toISOString() }) + '\\n');
    res.writeHead(200, headers);
    res.end(hit.body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
`;

/** How long the broker's audit line may take to reach its log file after the answer. */
const AUDIT_LINE_WAIT_MS = 2_000;

/**
 * The fields of the broker's last `token issued` line, without level, message, service and
 * time. `serve` writes its log lines in one batch per event-loop turn, after the answer
 * may already have reached the client, so the file is read again until the line is there.
 */
async function auditFields(logFile: string): Promise<Record<string, unknown>> {
  const until = Date.now() + AUDIT_LINE_WAIT_MS;
  let last: string | undefined;
  for (;;) {
    const lines = (await readFile(logFile, 'utf8')).split('\n').filter((l) => l.includes('"token issued"'));
    last = lines.at(-1);
    if (last !== undefined || Date.now() >= until) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!last)
    throw new Error(`P6: token-broker serve logged no "token issued" line within ${AUDIT_LINE_WAIT_MS} ms`);
  const {
    level: _l,
    message: _m,
    service: _s,
    timestamp: _t,
    ...fields
  } = JSON.parse(last) as Record<string, unknown>;
  return fields;
}

async function load(url: string, seconds: number, connections: number): Promise<LoadResult> {
  const result = await autocannon({
    url: `${url}/token`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
    connections,
    duration: seconds,
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0)
    throw new Error(
      `P6: ${url}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`,
    );
  return {
    average: result.requests.average,
    min: result.requests.min,
    median: result.requests.p50,
    p99: result.requests.p99,
    seconds: result.duration,
    requests: result.requests.total,
    latencyP99: result.latency.p99,
  };
}

/**
 * Starts the authorization server, `token-broker serve` and the bare server, and loads
 * them in turn, `rounds` times each for `seconds` with `connections` connections (broker,
 * peer, broker, peer, …), so drift on a shared machine meets both sides.
 * @throws Error when a server fails to start or a request fails
 */
export async function measureServe(seconds = 10, connections = 20, rounds = 1): Promise<ServeResult> {
  const authorization = await startDemoAuthorizationServer();
  const temp = await writeTempConfig(
    'token-broker-p6-',
    demoConfigYaml(authorization.tokenUrl, { callers: '[local]' }),
  );
  const children: ChildProcess[] = [];
  const log = await open(join(temp.dir, 'serve.log'), 'w');
  try {
    const serve = spawn(
      process.execPath,
      [join(ROOT, 'bin/token-broker.js'), 'serve', '--config', temp.file, '--port', '0'],
      {
        stdio: ['ignore', 'pipe', log.fd],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    children.push(serve);
    const brokerUrl = await listening(serve, 'P6: token-broker serve');
    const first = await fetch(`${brokerUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: BODY,
    });
    const answer = await first.text();
    if (first.status !== 200) throw new Error(`P6: the first token request answered ${first.status}`);
    const headers: Record<string, string> = {};
    first.headers.forEach((value, name) => {
      if (!['date', 'connection', 'keep-alive', 'content-length'].includes(name)) headers[name] = value;
    });
    // The peer logs the broker's own audit line for this token, read back from its log.
    const audit = await auditFields(join(temp.dir, 'serve.log'));
    const peerLog = await open(join(temp.dir, 'peer.log'), 'w');
    const peer = spawn(
      process.execPath,
      ['--input-type=module', '-e', PEER_SERVER, JSON.stringify({ headers, body: answer, audit })],
      {
        stdio: ['ignore', 'pipe', peerLog.fd],
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
    children.push(peer);
    const measured: { broker: LoadResult; baseline: LoadResult; ratio: number }[] = [];
    try {
      const peerUrl = await listening(peer, 'P6: the peer node:http server');
      for (let round = 0; round < rounds; round++) {
        const broker = await load(brokerUrl, seconds, connections);
        const baseline = await load(peerUrl, seconds, connections);
        measured.push({ broker, baseline, ratio: broker.average / baseline.average });
      }
      await stop(peer);
    } finally {
      await peerLog.close();
    }
    const peerRequests = measured.reduce((sum, m) => sum + m.baseline.requests, 0);
    const peerLines = (await readFile(join(temp.dir, 'peer.log'), 'utf8')).split('\n').length - 1;
    if (peerLines < peerRequests)
      throw new Error(`P6: the peer logged ${peerLines} lines for ${peerRequests} requests`);
    const middle = [...measured].sort((a, b) => a.ratio - b.ratio)[Math.floor(measured.length / 2)]!;
    return {
      broker: middle.broker,
      baseline: middle.baseline,
      ratios: measured.map((m) => m.ratio),
      ratio: middle.ratio,
      connections,
      upstreamRequests: authorization.requestCount(),
    };
  } finally {
    await Promise.all(children.map(stop));
    await log.close();
    await authorization.close();
    await temp.remove();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await measureServe(
    Number(process.argv[2] ?? 10),
    Number(process.argv[3] ?? 20),
    Number(process.argv[4] ?? 1),
  );
  const row = (name: string, l: LoadResult): string =>
    `${name.padEnd(24)} ${l.average.toFixed(0).padStart(7)} req/s (per-second min ${l.min}, median ${l.median}, p99 ${l.p99}; latency p99 ${l.latencyP99} ms; ${l.requests} requests)`;
  console.log(`P6, ${r.connections} connections, loopback:`);
  console.log(row('token-broker serve', r.broker));
  console.log(row('peer node:http', r.baseline));
  console.log(
    `ratio ${r.ratio.toFixed(2)}x, median of rounds ${r.ratios.map((x) => x.toFixed(2)).join(', ')} (goal >= 0.6x); upstream requests ${r.upstreamRequests}`,
  );
}
