/**
 * The token path, measured against a baseline in the same run:
 *
 * - {@link measureIssueMiss}: `broker.issue()` on a cache miss with the key material
 *   already open, against the development authorization server on 127.0.0.1, versus the
 *   least any client must do for the same token: `crypto.sign` of the same claims and one
 *   `fetch` POST to the same server. Interleaved runs; goal ≤ 1.3x (median).
 * - {@link measureIssueHit}: `broker.issue()` served from the in-process cache, in µs.
 *
 * `node --import tsx bench/token-path.ts [runs]`
 */
import { randomUUID, sign as cryptoSign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createBroker, type TokenBroker } from '../lib/broker/index.ts';
import { parseConfig } from '../lib/config/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';
import { openKeystore } from '../lib/keystore/index.ts';
import type { KeyMaterial } from '../lib/keystore/types.ts';
import { createSecretResolver } from '../lib/secrets/index.ts';
import { summarize, timeAsync, timeInterleaved, type Summary } from './stats.ts';

/** The RSA 2048 key both P2 and P7 sign with, and its certificate beside it. */
export const FIXTURES = fileURLToPath(new URL('../test/fixtures/keystores/', import.meta.url));
export const KEY_FILE = join(FIXTURES, 'pem-rsa2048-with-cert.pem');
export const CALLER = { id: 'bench', kind: 'api-key' } as const;

/** The authorization server trusting {@link KEY_FILE}, and a broker with the key already open. */
export interface Setup {
  readonly server: AuthorizationServer;
  readonly broker: TokenBroker;
  readonly key: KeyMaterial;
}

/** Starts the server and the `bench` profile's broker (its key material opened by one call). */
export async function setUp(): Promise<Setup> {
  const certificatePem = await readFile(`${KEY_FILE}.cert.pem`, 'utf8');
  const server = await startAuthorizationServer({ clients: [{ clientId: 'bench-app', certificatePem }] });
  const config = parseConfig(
    [
      'profiles:',
      '  bench:',
      '    issuer: bench-app',
      '    subject: warm@example.com',
      '    subjects: ["*@example.com"]',
      `    tokenUri: POST ${server.tokenUrl}`,
      '    scope: read',
      `    certStore: file:${KEY_FILE}`,
      '    callers: [bench]',
      '',
    ].join('\n'),
    'bench.yaml',
  );
  const broker = createBroker({ config, secrets: createSecretResolver({ env: {}, cwd: FIXTURES }) });
  await broker.issue({ profile: 'bench', caller: CALLER }); // opens the key material
  const key = await openKeystore(await readFile(KEY_FILE));
  return { server, broker, key };
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The baseline: the same RS256 claims signed with node:crypto and one fetch POST. */
async function rawSignAndPost(key: KeyMaterial, tokenUrl: string, subject: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({
    iss: 'bench-app',
    sub: subject,
    aud: tokenUrl,
    iat: now - 30,
    nbf: now - 30,
    exp: now + 270,
    jti: randomUUID(),
  })}`;
  const signature = cryptoSign('sha256', Buffer.from(input), key.privateKey).toString('base64url');
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: `${input}.${signature}`,
      scope: 'read',
    }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`baseline request failed with HTTP ${response.status}`);
  return body.access_token;
}

/** issue() on a miss vs crypto.sign + fetch; milliseconds. */
export async function measureIssueMiss(
  runs = 300,
): Promise<{ ours: Summary; baseline: Summary; ratio: number; runs: number }> {
  const { server, broker, key } = await setUp();
  try {
    let n = 0;
    // A new subject each time: a new cache key, so every call is a miss with the key already open.
    const miss = () => broker.issue({ profile: 'bench', subject: `user-${++n}@example.com`, caller: CALLER });
    const raw = () => rawSignAndPost(key, server.tokenUrl, `raw-${++n}@example.com`);
    const { a, b } = await timeInterleaved(miss, raw, runs);
    const ours = summarize(a);
    const baseline = summarize(b);
    return { ours, baseline, ratio: ours.median / baseline.median, runs };
  } finally {
    await server.close();
  }
}

/** issue() served from the in-process cache; microseconds. */
export async function measureIssueHit(runs = 20_000): Promise<Summary> {
  const { server, broker } = await setUp();
  try {
    const hit = () => broker.issue({ profile: 'bench', caller: CALLER });
    const samples = await timeAsync(hit, runs, 1000);
    return summarize(samples.map((ms) => ms * 1000));
  } finally {
    await server.close();
  }
}

const format = (s: Summary, unit: string, digits: number): string =>
  `median ${s.median.toFixed(digits)} ${unit}, min ${s.min.toFixed(digits)} ${unit}, p99 ${s.p99.toFixed(digits)} ${unit} (${s.runs} runs)`;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = Number(process.argv[2] ?? 300);
  const miss = await measureIssueMiss(runs);
  console.log(`issue() miss, key open:   ${format(miss.ours, 'ms', 3)}`);
  console.log(`baseline sign + fetch:    ${format(miss.baseline, 'ms', 3)}`);
  console.log(`ratio (median):           ${miss.ratio.toFixed(2)}x (goal ≤ 1.3x)`);
  const hit = await measureIssueHit();
  console.log(`issue() hit:              ${format(hit, 'µs', 1)}`);
}
