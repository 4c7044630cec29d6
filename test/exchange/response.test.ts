import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_EXPIRES_IN,
  MAX_EXPIRES_IN,
  processTokenResponse,
  sendTokenRequest,
} from '../../lib/exchange/index.ts';
import { UpstreamError, UpstreamRejected } from '../../lib/errors.ts';
import { json, raw, startFaultServer, type FaultServer, type FaultStep } from '../support/fault-server.ts';

let server: FaultServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function answer(step: FaultStep, options: Parameters<typeof processTokenResponse>[1] = {}) {
  server = await startFaultServer([step]);
  const response = await sendTokenRequest(
    { method: 'POST', url: server.url },
    new URLSearchParams({ a: 'b' }),
  );
  return processTokenResponse(response, options);
}

const invalidWith = (message: string) =>
  expect.objectContaining({ code: 'ERR_UPSTREAM_INVALID_RESPONSE', message });

describe('processTokenResponse', () => {
  it('normalises bearer and accepts a numeric string expires_in', async () => {
    const token = await answer(json(200, { access_token: 'x', token_type: 'BEARER', expires_in: '1800' }));
    expect(token).toEqual({
      accessToken: 'x',
      tokenType: 'Bearer',
      expiresIn: 1800,
      scope: undefined,
      fields: {},
    });
  });

  it('keeps other token types as sent when the profile says tokenType: any', async () => {
    const token = await answer(json(200, { access_token: 'x', token_type: 'DPoP', expires_in: 60 }), {
      tokenType: 'any',
    });
    expect(token.tokenType).toBe('DPoP');
  });

  it('refuses a token_type other than Bearer by default, naming it', async () => {
    await expect(
      answer(json(200, { access_token: 'x', token_type: 'mac', expires_in: 60 })),
    ).rejects.toMatchObject(
      invalidWith(
        'the token endpoint answered token_type "mac", not Bearer (HTTP 200, application/json); set tokenType: any on the profile if callers can use it',
      ),
    );
  });

  it(`defaults a missing expires_in to ${DEFAULT_EXPIRES_IN} s`, async () => {
    const token = await answer(json(200, { access_token: 'x', token_type: 'Bearer' }));
    expect(token.expiresIn).toBe(DEFAULT_EXPIRES_IN);
  });

  it(`caps an absurd expires_in at ${MAX_EXPIRES_IN} s`, async () => {
    const token = await answer(json(200, { access_token: 'x', token_type: 'Bearer', expires_in: 1e12 }));
    expect(token.expiresIn).toBe(MAX_EXPIRES_IN);
  });

  it('rejects a negative or non-numeric expires_in', async () => {
    await expect(
      answer(json(200, { access_token: 'x', token_type: 'Bearer', expires_in: -5 })),
    ).rejects.toEqual(
      invalidWith(
        "the token endpoint answered an expires_in that is not a number ≥ 0 (HTTP 200, application/json); check the profile's tokenUri",
      ),
    );
    await server?.close();
    await expect(
      answer(json(200, { access_token: 'x', token_type: 'Bearer', expires_in: 'soon' })),
    ).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_RESPONSE' });
  });

  it('rejects a missing access_token without echoing the body', async () => {
    const err = await answer(json(200, { token_type: 'Bearer', secret: 'do-not-echo' })).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.message).toBe(
      "the token endpoint answered no access_token string (HTTP 200, application/json); check the profile's tokenUri",
    );
    expect(JSON.stringify(err)).not.toContain('do-not-echo');
  });

  it('rejects a missing token_type and a non-string scope', async () => {
    await expect(answer(json(200, { access_token: 'x' }))).rejects.toEqual(
      invalidWith(
        "the token endpoint answered no token_type string (HTTP 200, application/json); check the profile's tokenUri",
      ),
    );
    await server?.close();
    await expect(
      answer(json(200, { access_token: 'x', token_type: 'Bearer', scope: ['a'] })),
    ).rejects.toEqual(
      invalidWith(
        "the token endpoint answered a scope that is not a string (HTTP 200, application/json); check the profile's tokenUri",
      ),
    );
  });

  it('rejects an HTML page naming status and content type only', async () => {
    const err = await answer(raw(200, 'text/html; charset=utf-8', '<html>login here</html>')).catch((e) => e);
    expect(err.message).toBe(
      "the token endpoint answered a body that is not a JSON object (HTTP 200, text/html); check the profile's tokenUri",
    );
    expect(err.message).not.toContain('login');
  });

  it('rejects truncated JSON', async () => {
    await expect(answer(raw(200, 'application/json', '{"access_token":"abc","tok'))).rejects.toEqual(
      invalidWith(
        "the token endpoint answered a body that is not a JSON object (HTTP 200, application/json); check the profile's tokenUri",
      ),
    );
  });

  it('stops reading a 10 MB body at 64 KiB', async () => {
    const big: FaultStep = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"access_token":"' + 'a'.repeat(10 * 1024 * 1024) + '"}');
    };
    await expect(answer(big)).rejects.toEqual(
      invalidWith(
        "the token endpoint answered a body larger than 65536 bytes (HTTP 200, application/json); check the profile's tokenUri",
      ),
    );
  });

  it('stops reading a chunked body without a length at 64 KiB', async () => {
    const chunked: FaultStep = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < 100; i += 1) res.write('x'.repeat(1024));
      res.end();
    };
    await expect(answer(chunked)).rejects.toMatchObject({ code: 'ERR_UPSTREAM_INVALID_RESPONSE' });
  });

  it('turns an RFC 6749 §5.2 body into UpstreamRejected', async () => {
    const err = await answer(
      json(401, { error: 'invalid_client', error_description: 'unknown\nclient' }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamRejected);
    expect(err).toMatchObject({ status: 401, error: 'invalid_client', errorDescription: 'unknown client' });
    expect(err.details).toEqual({ error: 'invalid_client', error_description: 'unknown client' });
  });

  it('treats a 200 carrying an OAuth error as a rejection', async () => {
    await expect(answer(json(200, { error: 'invalid_grant' }))).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_REJECTED',
      error: 'invalid_grant',
    });
  });

  it('reports a 404 HTML page as an invalid response', async () => {
    await expect(answer(raw(404, 'text/html', '<h1>Not found</h1>'))).rejects.toEqual(
      invalidWith(
        "the token endpoint answered an error that is not an OAuth error response (HTTP 404, text/html); check the profile's tokenUri",
      ),
    );
  });

  it('reports a bare 503 as unavailable', async () => {
    await expect(answer(raw(503, 'text/plain', 'down'))).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_UNAVAILABLE',
      message: 'the token endpoint is unavailable (HTTP 503, text/plain); retry later',
    });
  });
});
