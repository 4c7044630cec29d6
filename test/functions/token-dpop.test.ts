import { describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { DpopNonceRequired } from '../../lib/errors.ts';
import { silentLogger, type Broker, type IssueRequest } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from './events.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
const PROOF = 'eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiIxIn0.c2ln';

function handlerWith(issue: Broker['issue']) {
  return createTokenHandler({ broker: { issue }, logger: silentLogger });
}

describe('POST /token with a DPoP header', () => {
  it('hands the DPoP header, whatever its case, to the broker and answers its token_type', async () => {
    const seen: IssueRequest[] = [];
    const handler = handlerWith(async (request) => {
      seen.push(request);
      return { access_token: 'at', token_type: 'DPoP', expires_in: 60, expires_at: 1, cached: false };
    });
    const result = await handler(
      apiEvent({ body: '{"profile":"okta"}', userArn: ALICE, headers: { DPoP: PROOF } }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ token_type: 'DPoP' });
    expect(seen[0]?.dpop).toBe(PROOF);
  });

  it('passes no proof when there is no DPoP header', async () => {
    const seen: IssueRequest[] = [];
    const handler = handlerWith(async (request) => {
      seen.push(request);
      return { access_token: 'at', token_type: 'Bearer', expires_in: 60, expires_at: 1, cached: false };
    });
    await handler(apiEvent({ body: '{"profile":"okta"}', userArn: ALICE }), lambdaContext());
    expect(seen[0]?.dpop).toBeUndefined();
  });

  it('answers 400 use_dpop_nonce with the nonce in a DPoP-Nonce header, and no-store', async () => {
    const handler = handlerWith(async () => {
      throw new DpopNonceRequired('n-1.x_Y~', { details: { error_description: 'nonce is required' } });
    });
    const result = await handler(
      apiEvent({ body: '{"profile":"okta"}', userArn: ALICE, headers: { dpop: PROOF } }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(400);
    expect(result.headers['DPoP-Nonce']).toBe('n-1.x_Y~');
    expect(result.headers['Cache-Control']).toBe('no-store');
    expect(JSON.parse(result.body)).toEqual({
      error: 'use_dpop_nonce',
      message:
        'the token endpoint wants a DPoP nonce; sign a new proof with the DPoP-Nonce response header as its "nonce" claim and ask again',
      error_description: 'nonce is required',
    });
    expect(result.body).not.toContain(PROOF);
  });
});
