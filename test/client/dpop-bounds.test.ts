/** The client's DPoP round trips are bounded: each refusal teaches at most once. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenBrokerClient, TokenBrokerError } from '../../lib/client/index.ts';
import { startFakeBroker, type FakeBroker } from './fake-broker.ts';
import { credentials, REGION } from './sigv4-fixtures.ts';

let broker: FakeBroker;
beforeAll(async () => {
  broker = await startFakeBroker(Date.now);
});
afterAll(() => broker.close());
beforeEach(() => {
  broker.requests.length = 0;
});

const client = () =>
  new TokenBrokerClient({
    endpoint: broker.endpoint,
    region: REGION,
    credentials: credentials(),
    dpop: true,
  });

async function failure(promise: Promise<unknown>): Promise<TokenBrokerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenBrokerError);
  return err as TokenBrokerError;
}

describe('TokenBrokerClient DPoP round trips', () => {
  it('learns the endpoint once: the same refusal again is the error, after two requests', async () => {
    const refusal = {
      error: 'invalid_request',
      message:
        'DPoP proof refused: its "htu" must be the profile\'s token endpoint https://idp.example.com/token',
      dpop_htm: 'POST',
      dpop_htu: 'https://idp.example.com/token',
    };
    broker.answer = () => ({ status: 400, json: refusal });
    const err = await failure(client().getToken({ profile: 'okta' }));
    expect(err).toMatchObject({
      code: 'invalid_request',
      status: 400,
      message: refusal.message,
      dpopHtm: 'POST',
      dpopHtu: 'https://idp.example.com/token',
    });
    expect(broker.requests).toHaveLength(2);
  });

  it('does not retry a use_dpop_nonce that carries no DPoP-Nonce header', async () => {
    broker.answer = () => ({
      status: 400,
      json: { error: 'use_dpop_nonce', message: 'sign with the nonce' },
    });
    const err = await failure(client().getToken({ profile: 'okta' }));
    expect(err).toMatchObject({
      code: 'use_dpop_nonce',
      dpopNonce: undefined,
      message: 'sign with the nonce',
    });
    expect(broker.requests).toHaveLength(1);
  });

  it('passes other refusals on at once', async () => {
    broker.answer = () => ({
      status: 403,
      json: { error: 'forbidden', message: 'caller may not use "okta"' },
    });
    const err = await failure(client().getToken({ profile: 'okta' }));
    expect(err).toMatchObject({ code: 'forbidden', message: 'caller may not use "okta"' });
    expect(broker.requests).toHaveLength(1);
  });
});
