/**
 * The DPoP hot path, measured against a baseline in the same run: `broker.issue()` served
 * from the in-process cache with a new DPoP proof each time (the proof checked, its
 * replay recorded, the key's thumbprint in the cache key), versus the least a server that
 * accepts DPoP must do with the same proof: jose's `jwtVerify` with the embedded key, as
 * oidc-provider does. Proofs are signed before timing (that is the caller's cost).
 * Interleaved runs, microseconds.
 *
 * `node --import tsx bench/dpop.ts [runs]`
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EmbeddedJWK, jwtVerify } from 'jose';
import { createBroker } from '../lib/broker/index.ts';
import { parseConfig } from '../lib/config/index.ts';
import { createSecretResolver } from '../lib/secrets/index.ts';
import { makeProof, proofKey } from '../test/support/dpop-proofs.ts';
import { summarize, timeInterleaved, type Summary } from './stats.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/keystores/', import.meta.url));
const CALLER = { id: 'bench', kind: 'api-key' } as const;

/** issue() hit with a proof vs jwtVerify of a proof; microseconds. */
export async function measureDpopHit(
  runs = 5000,
): Promise<{ ours: Summary; baseline: Summary; ratio: number }> {
  // A token endpoint that answers one DPoP token; only the first request reaches it.
  let upstream = 0;
  const server = createServer((req, res) => {
    upstream += 1;
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: 'bench-dpop-token', token_type: 'DPoP', expires_in: 3600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  try {
    const config = parseConfig(
      `profiles:\n  bench:\n    issuer: bench-app\n    grant: client-assertion\n    tokenUri: ${tokenUrl}\n` +
        `    certStore: file:${FIXTURES}pem-rsa2048-with-cert.pem\n    dpop: required\n    callers: [bench]\n`,
      'bench.yaml',
    );
    const broker = createBroker({ config, secrets: createSecretResolver({ env: {}, cwd: FIXTURES }) });
    const key = await proofKey('ES256');
    const warmup = Math.min(20, runs);
    const proofs = await Promise.all(
      Array.from({ length: 2 * (runs + warmup) + 1 }, () => makeProof(key, { htu: tokenUrl })),
    );
    await broker.issue({ profile: 'bench', dpop: proofs.pop()!, caller: CALLER });
    const ours = () => broker.issue({ profile: 'bench', dpop: proofs.pop()!, caller: CALLER });
    const baseline = () => jwtVerify(proofs.pop()!, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    const { a, b } = await timeInterleaved(ours, baseline, runs, warmup);
    if (upstream !== 1) throw new Error(`expected 1 upstream request, saw ${upstream}`);
    const o = summarize(a.map((ms) => ms * 1000));
    const base = summarize(b.map((ms) => ms * 1000));
    return { ours: o, baseline: base, ratio: o.median / base.median };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await measureDpopHit(Number(process.argv[2] ?? 5000));
  console.log(
    `issue() hit with a DPoP proof: median ${r.ours.median.toFixed(1)} µs, p99 ${r.ours.p99.toFixed(1)} µs`,
  );
  console.log(`jwtVerify of a proof:          median ${r.baseline.median.toFixed(1)} µs`);
  console.log(`ratio (median):                ${r.ratio.toFixed(2)}x`);
}
