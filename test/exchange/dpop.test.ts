import { afterEach, describe, expect, it } from 'vitest';
import { DpopNonceRequired, UpstreamError, UpstreamRejected } from '../../lib/errors.ts';
import { exchangeToken, type ExchangeInput } from '../../lib/exchange/index.ts';
import { json, startFaultServer, tokenAnswer, type FaultServer } from '../support/fault-server.ts';
import { tokenProfile } from '../support/token-profile.ts';

const PROOF = 'eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl';

let server: FaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function input(url: string, extra: Partial<ExchangeInput> = {}): ExchangeInput {
  let n = 0;
  return {
    profile: tokenProfile({ tokenUri: { method: 'POST', url }, headers: { DPoP: 'from-profile' } }),
    subject: 'alice@example.com',
    scopes: ['read'],
    sign: async () => `assertion-${++n}`,
    sleep: async () => undefined,
    random: () => 0.5,
    attemptTimeoutMs: 3_000,
    deadlineMs: 5_000,
    dpop: PROOF,
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('exchangeToken with a DPoP proof', () => {
  it('sends the proof unchanged as the one DPoP header and answers token_type DPoP', async () => {
    server = await startFaultServer([tokenAnswer('tok-d', { token_type: 'dpop' })]);
    const result = await exchangeToken(input(server.url));
    expect(result.token.tokenType).toBe('DPoP');
    expect(server.headers[0]!['dpop']).toBe(PROOF);
  });

  it('refuses a Bearer answer to a request with a proof: the token would not be bound', async () => {
    server = await startFaultServer([tokenAnswer('tok-b')]);
    const err = await failure(exchangeToken(input(server.url)));
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      message:
        'the token endpoint answered token_type "bearer" to a request with a DPoP proof (expected DPoP: ' +
        "check that the client may use DPoP) (HTTP 200, application/json); check the profile's tokenUri",
    });
  });

  it('sends the proof once: a 503 is not retried with the same single-use proof', async () => {
    server = await startFaultServer([json(503, {}), tokenAnswer('late', { token_type: 'DPoP' })]);
    const err = await failure(exchangeToken(input(server.url, { maxAttempts: 3 })));
    expect(err).toMatchObject({ code: 'ERR_UPSTREAM_UNAVAILABLE' });
    expect(server.count()).toBe(1);
  });

  it('makes no skew retry with a proof', async () => {
    const skewed = new Date(Date.now() + 600_000).toUTCString();
    server = await startFaultServer([
      json(400, { error: 'invalid_grant', error_description: 'iat in the future' }, { date: skewed }),
    ]);
    const err = await failure(exchangeToken(input(server.url)));
    expect(err).toBeInstanceOf(UpstreamRejected);
    expect(server.count()).toBe(1);
  });

  it('turns use_dpop_nonce with a DPoP-Nonce header into DpopNonceRequired carrying the nonce', async () => {
    server = await startFaultServer([
      json(
        400,
        { error: 'use_dpop_nonce', error_description: 'nonce required' },
        { 'DPoP-Nonce': 'eyJ7S_zG.eyJH0-Z.HX4w-7v' },
      ),
    ]);
    const err = await failure(exchangeToken(input(server.url)));
    expect(err).toBeInstanceOf(DpopNonceRequired);
    expect(err).toMatchObject({
      code: 'ERR_USE_DPOP_NONCE',
      nonce: 'eyJ7S_zG.eyJH0-Z.HX4w-7v',
      details: { error_description: 'nonce required' },
    });
  });

  it('leaves use_dpop_nonce without a valid DPoP-Nonce header an upstream rejection', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { 'DPoP-Nonce': 'has "quotes"' },
      { 'DPoP-Nonce': 'x'.repeat(1025) },
    ]) {
      server = await startFaultServer([json(400, { error: 'use_dpop_nonce' }, headers)]);
      const err = await failure(exchangeToken(input(server.url)));
      expect(err).toBeInstanceOf(UpstreamRejected);
      expect(err).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', error: 'use_dpop_nonce' });
      await server.close();
      server = undefined;
    }
  });

  it('sends no DPoP header without a proof, whatever the profile headers hold besides', async () => {
    server = await startFaultServer([tokenAnswer()]);
    await exchangeToken(
      input(server.url, {
        dpop: undefined,
        profile: tokenProfile({ tokenUri: { method: 'POST', url: server.url } }),
      }),
    );
    expect(server.headers[0]!['dpop']).toBeUndefined();
  });
});
