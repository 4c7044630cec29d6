/**
 * A `DPoP-Nonce` on a successful provider answer (RFC 9449 §8.2): the broker passes it to
 * the caller as a `DPoP-Nonce` response header (never in the body), and the client
 * library signs its next proof with it.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { TokenBrokerClient } from '../../lib/client/index.ts';
import { silentLogger } from '../../lib/types.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { makeProof, proofKey } from '../support/dpop-proofs.ts';
import { json, startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { startFakeBroker, type Answer, type FakeBroker } from './fake-broker.ts';
import { credentials, REGION } from './sigv4-fixtures.ts';

const CALLER = { id: 'svc', kind: 'api-key' } as const;
const ALICE = 'arn:aws:iam::123456789012:user/alice';
const NONCE = 'n-2.next_Nonce~';

describe('the broker with a provider that sends a DPoP-Nonce on its 200', () => {
  let provider: FaultServer;
  beforeAll(async () => {
    let n = 0;
    provider = await startFaultServer([
      (req, res, body) => {
        n += 1;
        json(
          200,
          { access_token: `dpop-${n}`, token_type: 'DPoP', expires_in: 3600 },
          { 'DPoP-Nonce': NONCE },
        )(req, res, body);
      },
    ]);
  });
  afterAll(() => provider?.close());

  it('hands the nonce with the token it obtained, and not with cache hits', async () => {
    const config = configFrom(
      profileYaml('p', {
        provider: 'generic',
        issuer: 'client',
        subject: 'alice@example.com',
        tokenUri: `POST ${provider.url}`,
        audience: 'aud',
        certStore: `file:${KEYSTORE_FIXTURES}/pem-rsa2048-with-cert.pem`,
        callers: [CALLER.id],
        dpop: 'optional',
      }),
    );
    const broker = createBroker({ config, secrets: fileSecrets() });
    const key = await proofKey();
    const proof = () => makeProof(key, { htu: provider.url });
    const before = provider.count();

    const first = await broker.issue({ profile: 'p', dpop: await proof(), caller: CALLER });
    const again = await broker.issue({ profile: 'p', dpop: await proof(), caller: CALLER });

    expect(first).toMatchObject({
      access_token: 'dpop-1',
      token_type: 'DPoP',
      cached: false,
      dpopNonce: NONCE,
    });
    expect(again).toMatchObject({ access_token: 'dpop-1', cached: true });
    expect(again.dpopNonce).toBeUndefined();
    expect(provider.count() - before).toBe(1);
  });
});

describe('POST /token', () => {
  it('sends the provider’s nonce as a DPoP-Nonce header, not in the body', async () => {
    const handler = createTokenHandler({
      broker: {
        issue: async () => ({
          access_token: 'at',
          token_type: 'DPoP',
          expires_in: 60,
          expires_at: 1,
          cached: false,
          dpopNonce: NONCE,
        }),
      },
      logger: silentLogger,
    });
    const result = await handler(
      apiEvent({ body: '{"profile":"okta"}', userArn: ALICE, headers: { DPoP: 'x.y.z' } }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(200);
    expect(result.headers['DPoP-Nonce']).toBe(NONCE);
    expect(JSON.parse(result.body)).toEqual({
      access_token: 'at',
      token_type: 'DPoP',
      expires_in: 60,
      expires_at: 1,
    });
  });
});

describe('TokenBrokerClient with a DPoP-Nonce on a 200', () => {
  let fake: FakeBroker;
  beforeAll(async () => {
    fake = await startFakeBroker(Date.now);
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
  });

  it('signs its next proof for the profile with the nonce, without an extra round trip', async () => {
    const client = new TokenBrokerClient({
      endpoint: fake.endpoint,
      region: REGION,
      credentials: credentials(),
      dpop: true,
    });
    let n = 0;
    fake.answer = (): Answer => {
      n += 1;
      if (n === 1)
        return {
          status: 400,
          json: {
            error: 'invalid_request',
            message: 'DPoP proof refused: wrong htu',
            dpop_htm: 'POST',
            dpop_htu: 'https://idp.example.com/token',
          },
        };
      return {
        status: 200,
        json: { access_token: `at-${n}`, token_type: 'DPoP', expires_in: 3600, expires_at: 0 },
        headers: n === 2 ? { 'DPoP-Nonce': NONCE } : ({} as Record<string, string>),
      };
    };

    await client.getToken({ profile: 'okta', scope: 'a' });
    await client.getToken({ profile: 'okta', scope: 'b' });

    expect(fake.requests).toHaveLength(3);
    const claims = fake.requests.map((request) => decodeJwt(request.dpop!));
    expect(claims[1]).toMatchObject({ htu: 'https://idp.example.com/token' });
    expect(claims[1]!['nonce']).toBeUndefined();
    expect(claims[2]).toMatchObject({ htu: 'https://idp.example.com/token', nonce: NONCE });
  });
});
