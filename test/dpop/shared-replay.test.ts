/**
 * DPoP proofs across a fleet and under load: a proof used on one instance is refused by
 * another on the same dynalite table before any upstream call; a full replay record
 * refuses new proofs instead of forgetting fresh ones; a caller bringing a new key per
 * request is bounded. Against oidc-provider (`features.dPoP`), counting its token requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import { DpopGate } from '../../lib/broker/dpop.ts';
import { createDynamoDbStore } from '../../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../../lib/cache/ensure-table.ts';
import { createResilientStore } from '../../lib/cache/resilient-store.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import { MAX_NEW_KEYS_PER_CALLER, NewKeyLimit } from '../../lib/dpop/key-limit.ts';
import { MAX_REMEMBERED_PROOFS, ProofReplayCache, proofId } from '../../lib/dpop/replay.ts';
import { isBrokerError } from '../../lib/errors.ts';
import { errorResult } from '../../lib/http/error-response.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { makeProof, proofKey, type ProofKey } from '../support/dpop-proofs.ts';
import { DPOP_CLIENT_KEY, startDpopProvider, type DpopProvider } from '../support/dpop-provider.ts';
import { startDynalite, type Dynalite } from '../support/dynalite.ts';
import { randomSealKey } from '../support/shared-cache-fixtures.ts';

const TABLE = 'token-broker-cache';
const CALLER = { id: 'svc', kind: 'api-key' } as const;
const REPLAYED =
  'DPoP proof refused: this proof was already used; sign a new one (with a new jti) for every request';

let provider: DpopProvider;
let dynamo: Dynalite;

beforeAll(async () => {
  [provider, dynamo] = await Promise.all([startDpopProvider(), startDynalite()]);
  await ensureTable(dynamo.client(), TABLE);
});
afterAll(async () => {
  await Promise.all([provider?.close(), dynamo?.close()]);
});

const sealKey = randomSealKey();

/** One instance of the fleet: its own DynamoDB client and store on the shared table. */
function instance(clientId: string, callers: readonly string[] = [CALLER.id]): TokenBroker {
  const config = configFrom(
    profileYaml('oidc', {
      issuer: clientId,
      grant: 'client-assertion',
      tokenUri: `${provider.issuer}/token`,
      certStore: `file:${DPOP_CLIENT_KEY}`,
      scope: 'api:read',
      callers,
      dpop: 'optional',
    }),
  );
  const sharedStore: SharedTokenStore = createResilientStore(
    createDynamoDbStore({ client: dynamo.client(), table: TABLE, sealKey }),
  );
  return createBroker({ config, secrets: fileSecrets(), sharedStore });
}

const proofFor = (key: ProofKey) => makeProof(key, { htu: `${provider.issuer}/token` });

async function refusal(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBrokerError(err)).toBe(true);
  return err as { code: string; message: string; details: Record<string, unknown> | undefined };
}

describe('the DPoP replay record shared on one dynalite table', () => {
  it('refuses on Y a proof X accepted, with no upstream call', async () => {
    const [x, y] = [instance('dpop-client'), instance('dpop-client')];
    const key = await proofKey();
    const proof = await proofFor(key);
    const before = provider.tokenRequests();

    const first = await x.issue({ profile: 'oidc', dpop: proof, caller: CALLER });
    expect(first).toMatchObject({ token_type: 'DPoP', cached: false });
    const replay = await refusal(y.issue({ profile: 'oidc', dpop: proof, caller: CALLER }));

    expect(replay.code).toBe('ERR_DPOP_PROOF');
    expect(replay.message).toBe(REPLAYED);
    expect(provider.tokenRequests() - before, 'the replay reached no provider').toBe(1);
    // A new proof of the same key on Y is served from the shared table.
    const fresh = await y.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER });
    expect(fresh).toMatchObject({ access_token: first.access_token, cached: true });
    expect(provider.tokenRequests() - before).toBe(1);
  });

  it('writes one item per proof under dpop#, keyed by key, endpoint and jti, with a TTL', async () => {
    const store = createDynamoDbStore({ client: dynamo.client(), table: TABLE, sealKey });
    const id = proofId({ thumbprint: 'jkt', jti: 'j-1' }, { method: 'POST', url: 'https://idp/token' });
    expect(await store.claimProof(id, 1_800_000_000_000)).toBe(true);
    expect(await store.claimProof(id, 1_800_000_000_000)).toBe(false);
    const other = proofId({ thumbprint: 'jkt', jti: 'j-1' }, { method: 'POST', url: 'https://idp/other' });
    expect(await store.claimProof(other, 1_800_000_000_000)).toBe(true);
  });
});

describe('a full replay record', () => {
  it('still refuses the first of MAX_REMEMBERED_PROOFS fresh proofs, and refuses new ones until one goes stale', () => {
    const record = new ProofReplayCache();
    const now = Date.UTC(2026, 0, 1);
    for (let i = 0; i < MAX_REMEMBERED_PROOFS; i++)
      expect(record.claim({ id: `p${i}`, freshUntil: now + 60_000 + i }, now + i)).toBe('accepted');
    // 50 more proofs 11-16 s later: the issue's reproduction.
    for (let i = 0; i < 50; i++)
      expect(record.claim({ id: `q${i}`, freshUntil: now + 71_000 }, now + 11_000)).toBe('full');
    expect(
      record.claim({ id: 'p0', freshUntil: now + 60_000 }, now + 16_000),
      'the first proof replayed',
    ).toBe('replayed');
    expect(record.size).toBe(MAX_REMEMBERED_PROOFS);
    expect(record.claim({ id: 'q0', freshUntil: now + 71_000 }, now + 60_001)).toBe('accepted');
  });

  it('answers ERR_DPOP_LIMIT with retry_after through the broker, before any upstream call', async () => {
    const config = configFrom(
      profileYaml('oidc', {
        issuer: 'dpop-client',
        grant: 'client-assertion',
        tokenUri: `${provider.issuer}/token`,
        certStore: `file:${DPOP_CLIENT_KEY}`,
        scope: 'api:read',
        callers: [CALLER.id],
        dpop: 'optional',
      }),
    );
    const profile = config.profiles['oidc']!;
    const gate = new DpopGate(Date.now, { replay: new ProofReplayCache(1) });
    const key = await proofKey();
    await gate.check(profile, await proofFor(key), CALLER.id);

    const full = await refusal(gate.check(profile, await proofFor(key), CALLER.id));

    expect(full.code).toBe('ERR_DPOP_LIMIT');
    expect(full.message).toMatch(
      /^too many fresh DPoP proofs on this server to remember another; try again in (60|61) s$/,
    );
    expect(full.details).toEqual({ retry_after: expect.any(Number) });
  });
});

describe('new DPoP keys per caller', () => {
  it(`allows ${MAX_NEW_KEYS_PER_CALLER} new keys a minute per caller, then answers ERR_DPOP_LIMIT without an upstream call`, async () => {
    const broker = instance('dpop-client', [CALLER.id, 'other']);
    const keys = await Promise.all(Array.from({ length: MAX_NEW_KEYS_PER_CALLER + 1 }, () => proofKey()));
    const before = provider.tokenRequests();
    for (const key of keys.slice(0, MAX_NEW_KEYS_PER_CALLER))
      await broker.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER });
    expect(provider.tokenRequests() - before).toBe(MAX_NEW_KEYS_PER_CALLER);

    const limited = await refusal(
      broker.issue({ profile: 'oidc', dpop: await proofFor(keys[MAX_NEW_KEYS_PER_CALLER]!), caller: CALLER }),
    );

    expect(limited.code).toBe('ERR_DPOP_LIMIT');
    expect(limited.message).toMatch(
      /^too many new DPoP keys from this caller \(each costs an upstream token request\); reuse a key; try again in (59|60) s$/,
    );
    expect(limited.details).toEqual({ retry_after: expect.any(Number) });
    const http = errorResult(limited);
    expect(http.statusCode).toBe(503);
    expect(http.headers?.['Retry-After']).toBe(String(limited.details!['retry_after']));
    expect(JSON.parse(http.body)).toEqual({
      error: 'upstream_unavailable',
      message: limited.message,
      retry_after: limited.details!['retry_after'],
    });
    expect(provider.tokenRequests() - before, 'the refused key cost nothing upstream').toBe(
      MAX_NEW_KEYS_PER_CALLER,
    );
    // A key already used in the window, and another caller, are not affected.
    const known = await broker.issue({ profile: 'oidc', dpop: await proofFor(keys[0]!), caller: CALLER });
    expect(known.cached).toBe(true);
    await broker.issue({
      profile: 'oidc',
      dpop: await proofFor(keys[MAX_NEW_KEYS_PER_CALLER]!),
      caller: { id: 'other', kind: 'api-key' },
    });
    expect(provider.tokenRequests() - before).toBe(MAX_NEW_KEYS_PER_CALLER + 1);
  });

  it('makes room as the oldest key leaves the window', () => {
    const limit = new NewKeyLimit(2, 60_000);
    expect(limit.admit('c', 'k1', 0)).toBeUndefined();
    expect(limit.admit('c', 'k2', 10_000)).toBeUndefined();
    expect(limit.admit('c', 'k3', 20_000)).toBe(40_000);
    expect(limit.admit('c', 'k1', 30_000), 'a key seen in the window').toBeUndefined();
    expect(limit.admit('c', 'k3', 60_001)).toBeUndefined();
  });
});
