/**
 * DPoP with the caller's own key against oidc-provider 9 (`features.dPoP`), in
 * client-assertion mode with `private_key_jwt`: the broker checks and forwards the caller's
 * proof, the provider binds the token to the caller's key.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBroker, type TokenBroker } from '../lib/broker/index.ts';
import { isBrokerError } from '../lib/errors.ts';
import { collectTargets } from '../lib/refresh/targets.ts';
import { silentLogger } from '../lib/types.ts';
import { memorySharedStore } from './support/memory-shared-store.ts';
import { configFrom, fileSecrets, profileYaml } from './support/broker-env.ts';
import { makeProof, proofKey, type ProofKey } from './support/dpop-proofs.ts';
import { DPOP_CLIENT_KEY, startDpopProvider, type DpopProvider } from './support/dpop-provider.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';
import { ALL_KEYS } from '../lib/cache/due.ts';

const CALLER = { id: 'svc', kind: 'api-key' } as const;

let provider: DpopProvider;
let issuer: string;
const tokenRequests = () => provider.tokenRequests();

beforeAll(async () => {
  provider = await startDpopProvider();
  issuer = provider.issuer;
});
afterAll(() => provider.close());
beforeEach(() => {
  provider.requireNonce = false;
});

function brokerFor(
  clientId: string,
  dpop: string,
  sharedStore?: ReturnType<typeof memorySharedStore>,
  certStore = DPOP_CLIENT_KEY,
): TokenBroker {
  const config = configFrom(
    profileYaml('oidc', {
      issuer: clientId,
      grant: 'client-assertion',
      tokenUri: `${issuer}/token`,
      certStore: `file:${certStore}`,
      scope: 'api:read',
      callers: [CALLER.id],
      dpop,
    }),
  );
  return createBroker({ config, secrets: fileSecrets(), sharedStore });
}

const proofFor = (key: ProofKey, extra: Parameters<typeof makeProof>[1] | object = {}) =>
  makeProof(key, { htu: `${issuer}/token`, ...extra });

const boundTo = (accessToken: string) => provider.boundTo(accessToken);

async function refusal(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBrokerError(err)).toBe(true);
  return err as { code: string; message: string; details: Record<string, unknown> };
}

describe('DPoP with the caller’s key against oidc-provider', () => {
  it('obtains a token bound to the caller’s key, then serves it from cache to new proofs of that key', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const key = await proofKey();
    const before = tokenRequests();
    const first = await broker.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER });
    expect(first).toMatchObject({ token_type: 'DPoP', scope: 'api:read', cached: false });
    expect(await boundTo(first.access_token)).toBe(key.thumbprint);

    const again = await broker.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER });
    expect(again).toMatchObject({ access_token: first.access_token, token_type: 'DPoP', cached: true });
    expect(tokenRequests() - before).toBe(1);
  });

  it('gives a second caller with another key its own token, never the first one’s', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const [alice, bob] = [await proofKey(), await proofKey('PS256')];
    const before = tokenRequests();
    const forAlice = await broker.issue({ profile: 'oidc', dpop: await proofFor(alice), caller: CALLER });
    const forBob = await broker.issue({ profile: 'oidc', dpop: await proofFor(bob), caller: CALLER });
    expect(forBob.cached).toBe(false);
    expect(forBob.access_token).not.toBe(forAlice.access_token);
    expect(await boundTo(forAlice.access_token)).toBe(alice.thumbprint);
    expect(await boundTo(forBob.access_token)).toBe(bob.thumbprint);
    const aliceAgain = await broker.issue({ profile: 'oidc', dpop: await proofFor(alice), caller: CALLER });
    expect(aliceAgain.access_token).toBe(forAlice.access_token);
    expect(tokenRequests() - before).toBe(2);
  });

  it('shares one upstream request among concurrent requests proving the same key', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const key = await proofKey();
    const proofs = await Promise.all([1, 2, 3].map(() => proofFor(key)));
    const before = tokenRequests();
    const tokens = await Promise.all(
      proofs.map((dpop) => broker.issue({ profile: 'oidc', dpop, caller: CALLER })),
    );
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect(tokenRequests() - before).toBe(1);
  });

  it('does not let the schedule or consent refresh a required profile: it has no proof', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const before = tokenRequests();
    const err = await refusal(broker.refresh({ profile: 'oidc', force: true }));
    expect(err.code).toBe('ERR_DPOP_PROOF');
    expect(err.message).toBe(
      `profile "oidc" binds tokens to the caller's DPoP key; only a caller's request with a proof obtains one`,
    );
    expect(tokenRequests() - before).toBe(0);
  });

  it('refuses a proof to a profile with dpop: off before any upstream call', async () => {
    const broker = brokerFor('either-client', 'off');
    const before = tokenRequests();
    const err = await refusal(
      broker.issue({ profile: 'oidc', dpop: await proofFor(await proofKey()), caller: CALLER }),
    );
    expect(err.message).toBe(
      'profile "oidc" does not use DPoP; send no DPoP header, or set dpop: optional in the profile',
    );
    expect(tokenRequests() - before).toBe(0);
  });

  it('shares a DPoP-bound token across instances only with proofs of its key, and the schedule leaves it alone', async () => {
    const shared = memorySharedStore(Date.now);
    const [one, two] = [
      brokerFor('dpop-client', 'required', shared),
      brokerFor('dpop-client', 'required', shared),
    ];
    const [alice, bob] = [await proofKey(), await proofKey()];
    const before = tokenRequests();
    const first = await one.issue({ profile: 'oidc', dpop: await proofFor(alice), caller: CALLER });
    const again = await two.issue({ profile: 'oidc', dpop: await proofFor(alice), caller: CALLER });
    expect(again).toMatchObject({ access_token: first.access_token, cached: true });
    const other = await two.issue({ profile: 'oidc', dpop: await proofFor(bob), caller: CALLER });
    expect(other.access_token).not.toBe(first.access_token);
    expect(tokenRequests() - before).toBe(2);
    await two.issue({ profile: 'oidc', dpop: await proofFor(bob), caller: CALLER }); // marks it used

    const config = configFrom(
      profileYaml('oidc', {
        issuer: 'dpop-client',
        grant: 'client-assertion',
        tokenUri: `${issuer}/token`,
        certStore: `file:${DPOP_CLIENT_KEY}`,
        scope: 'api:read',
        dpop: 'required',
      }),
    );
    const { targets, ignored } = await collectTargets(
      { config, broker: two, sharedStore: shared, logger: silentLogger },
      { now: Date.now() + 86_400_000, usedSince: 0, shard: ALL_KEYS },
    );
    expect(targets).toEqual([]);
    expect(ignored).toBeGreaterThanOrEqual(1);
  });

  it('does not send a single-use proof again when the provider refuses the client key', async () => {
    const broker = brokerFor(
      'dpop-client',
      'required',
      undefined,
      join(KEYSTORE_FIXTURES, 'pem-ec256-sec1.pem'),
    );
    const before = tokenRequests();
    const err = await refusal(
      broker.issue({ profile: 'oidc', dpop: await proofFor(await proofKey()), caller: CALLER }),
    );
    expect(err).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', error: 'invalid_client' });
    expect(tokenRequests() - before).toBe(1);
  });

  it('keeps Bearer and DPoP tokens of an optional profile apart', async () => {
    const broker = brokerFor('either-client', 'optional');
    const key = await proofKey('EdDSA');
    const before = tokenRequests();
    const bearer = await broker.issue({ profile: 'oidc', caller: CALLER });
    const bound = await broker.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER });
    expect(bearer.token_type).toBe('Bearer');
    expect(bound).toMatchObject({ token_type: 'DPoP', cached: false });
    expect(await boundTo(bearer.access_token)).toBeUndefined();
    expect(await boundTo(bound.access_token)).toBe(key.thumbprint);
    expect((await broker.issue({ profile: 'oidc', caller: CALLER })).access_token).toBe(bearer.access_token);
    expect(tokenRequests() - before).toBe(2);
  });

  it('refuses a replayed proof before any upstream call', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const key = await proofKey();
    const proof = await proofFor(key);
    const before = tokenRequests();
    await broker.issue({ profile: 'oidc', dpop: proof, caller: CALLER });
    const err = await refusal(broker.issue({ profile: 'oidc', dpop: proof, caller: CALLER }));
    expect(err.code).toBe('ERR_DPOP_PROOF');
    expect(err.message).toBe(
      'DPoP proof refused: this proof was already used; sign a new one (with a new jti) for every request',
    );
    expect(tokenRequests() - before).toBe(1);
  });

  it('refuses a proof for another htu or method before any upstream call, saying what to sign', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const key = await proofKey();
    const before = tokenRequests();
    const wrongHtu = await refusal(
      broker.issue({
        profile: 'oidc',
        dpop: await makeProof(key, { htu: `${issuer}/token/other` }),
        caller: CALLER,
      }),
    );
    expect(wrongHtu.code).toBe('ERR_DPOP_PROOF');
    expect(wrongHtu.message).toBe(
      `DPoP proof refused: its "htu" must be the profile's token endpoint ${issuer}/token`,
    );
    expect(wrongHtu.details).toEqual({ dpop_htm: 'POST', dpop_htu: `${issuer}/token` });
    const wrongHtm = await refusal(
      broker.issue({ profile: 'oidc', dpop: await proofFor(key, { htm: 'GET' }), caller: CALLER }),
    );
    expect(wrongHtm.message).toBe('DPoP proof refused: its "htm" must be "POST"');
    expect(tokenRequests() - before).toBe(0);
  });

  it('refuses a request without a proof to a required profile, saying how to make one', async () => {
    const broker = brokerFor('dpop-client', 'required');
    const before = tokenRequests();
    const err = await refusal(broker.issue({ profile: 'oidc', caller: CALLER }));
    expect(err.code).toBe('ERR_DPOP_PROOF');
    expect(err.message).toBe(
      `profile "oidc" binds tokens to the caller's key: send a DPoP header with a proof (RFC 9449 §4) ` +
        `signed by your key, with htm "POST" and htu "${issuer}/token"; token-broker/client does this with dpop: true`,
    );
    expect(tokenRequests() - before).toBe(0);
  });

  it('passes the provider’s nonce on as ERR_USE_DPOP_NONCE, and a proof with it gets the token', async () => {
    provider.requireNonce = true;
    const broker = brokerFor('dpop-client', 'required');
    const key = await proofKey();
    const before = tokenRequests();
    const err = await refusal(broker.issue({ profile: 'oidc', dpop: await proofFor(key), caller: CALLER }));
    expect(err.code).toBe('ERR_USE_DPOP_NONCE');
    expect(err.message).toBe(
      'the token endpoint wants a DPoP nonce; sign a new proof with the DPoP-Nonce response header as its "nonce" claim and ask again',
    );
    const nonce = (err as unknown as { nonce: string }).nonce;
    expect(nonce).toMatch(/^[\w-]{20,}$/);
    const token = await broker.issue({
      profile: 'oidc',
      dpop: await proofFor(key, { nonce }),
      caller: CALLER,
    });
    expect(token.token_type).toBe('DPoP');
    expect(await boundTo(token.access_token)).toBe(key.thumbprint);
    expect(tokenRequests() - before).toBe(2);
  });
});
