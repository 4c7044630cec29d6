/**
 * DPoP through two real `serve` processes on one dynalite table: a proof used on X is
 * refused by Y before any upstream call, and the bound on new keys per caller answers
 * 503 with a Retry-After header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NEW_KEYS_PER_CALLER } from '../../lib/dpop/key-limit.ts';
import { makeProof, proofKey, type ProofKey } from '../support/dpop-proofs.ts';
import { json, startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { startFleet, type Fleet, type ServeProcess } from '../support/fleet.ts';

const TEST_TIMEOUT_MS = 120_000;
const REPLAYED =
  'DPoP proof refused: this proof was already used; sign a new one (with a new jti) for every request';

let provider: FaultServer;
let fleet: Fleet;
let x: ServeProcess;
let y: ServeProcess;

beforeAll(async () => {
  let n = 0;
  provider = await startFaultServer([
    (req, res, body) => {
      n += 1;
      json(200, { access_token: `dpop-${n}`, token_type: 'DPoP', expires_in: 3600 })(req, res, body);
    },
  ]);
  fleet = await startFleet([{ name: 'p', tokenUrl: provider.url, dpop: 'optional' }]);
  x = await fleet.start();
  y = await fleet.start();
}, TEST_TIMEOUT_MS);
afterAll(async () => {
  await fleet?.close();
  await provider?.close();
});

async function ask(serve: ServeProcess, proof: string) {
  const response = await fetch(`${serve.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', dpop: proof },
    body: JSON.stringify({ profile: 'p' }),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

const proofFor = (key: ProofKey) => makeProof(key, { htu: provider.url });

describe('DPoP across two serve processes on one dynalite table', () => {
  it(
    'refuses on Y the proof X accepted, with one upstream call in all',
    async () => {
      const key = await proofKey();
      const proof = await proofFor(key);
      const before = provider.count();

      const first = await ask(x, proof);
      const replay = await ask(y, proof);

      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ access_token: expect.stringMatching(/^dpop-/), token_type: 'DPoP' });
      expect(replay.status).toBe(400);
      expect(replay.body).toEqual({ error: 'invalid_request', message: REPLAYED });
      expect(provider.count() - before).toBe(1);
      // The same proof back to X is refused too; a new proof of the key on Y is served from the table.
      expect((await ask(x, proof)).status).toBe(400);
      const fresh = await ask(y, await proofFor(key));
      expect(fresh.body['access_token']).toBe(first.body['access_token']);
      expect(provider.count() - before).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `answers the caller's new key past ${MAX_NEW_KEYS_PER_CALLER} a minute with 503 and Retry-After, without an upstream call`,
    async () => {
      const keys = await Promise.all(Array.from({ length: MAX_NEW_KEYS_PER_CALLER }, () => proofKey()));
      // The first test's key counts for this caller on X too.
      const before = provider.count();
      const answers = [];
      for (const key of keys) answers.push(await ask(x, await proofFor(key)));

      expect(answers.slice(0, MAX_NEW_KEYS_PER_CALLER - 1).map((a) => a.status)).toEqual(
        Array(MAX_NEW_KEYS_PER_CALLER - 1).fill(200),
      );
      const limited = answers[MAX_NEW_KEYS_PER_CALLER - 1]!;
      expect(limited.status).toBe(503);
      expect(limited.body).toEqual({
        error: 'upstream_unavailable',
        message: expect.stringMatching(
          /^too many new DPoP keys from this caller \(each costs an upstream token request\); reuse a key; try again in \d+ s$/,
        ),
        retry_after: expect.any(Number),
      });
      expect(limited.headers.get('retry-after')).toBe(String(limited.body['retry_after']));
      expect(provider.count() - before, 'one upstream call per admitted key').toBe(
        MAX_NEW_KEYS_PER_CALLER - 1,
      );
    },
    TEST_TIMEOUT_MS,
  );
});
