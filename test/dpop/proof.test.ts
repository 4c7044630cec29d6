import { createHash } from 'node:crypto';
import { base64url, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { htuMatches, normalisedHtu } from '../../lib/dpop/htu.ts';
import { checkProof, MAX_PROOF_LENGTH, PROOF_IAT_WINDOW_S } from '../../lib/dpop/proof.ts';
import { ProofReplayCache, proofId } from '../../lib/dpop/replay.ts';
import { isBrokerError } from '../../lib/errors.ts';
import { makeProof, proofKey, type ProofKey } from '../support/dpop-proofs.ts';

const URL_ = 'https://idp.example.com/oauth2/token';
const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const NOW_S = NOW / 1000;
const expected = { method: 'POST', url: URL_, now: NOW };

let es256: ProofKey;
beforeAll(async () => {
  es256 = await proofKey();
});

async function refusedWith(proof: string, exp = expected): Promise<string> {
  const err = await checkProof(proof, exp).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBrokerError(err, 'ERR_DPOP_PROOF')).toBe(true);
  return (err as Error).message;
}

const proof = (options: Partial<Parameters<typeof makeProof>[1]> = {}) =>
  makeProof(es256, { htu: URL_, iat: NOW_S, ...options });

describe('checkProof', () => {
  it('accepts a well-formed proof and returns its key thumbprint (RFC 7638) and freshness', async () => {
    const checked = await checkProof(await proof({ jti: 'j-1' }), expected);
    expect(checked).toEqual({
      thumbprint: es256.thumbprint,
      jti: 'j-1',
      freshUntil: NOW + PROOF_IAT_WINDOW_S * 1000,
    });
  });

  it('gives the RFC 7638 §3 thumbprint: SHA-256 over the required members in lexicographic order', async () => {
    const { crv, kty, x, y } = es256.jwk;
    const canonical = JSON.stringify({ crv, kty, x, y });
    const checked = await checkProof(await proof(), expected);
    expect(checked.thumbprint).toBe(createHash('sha256').update(canonical).digest('base64url'));
  });

  it('accepts iat exactly at both edges of the window and refuses one second past either', async () => {
    await expect(
      checkProof(await proof({ iat: NOW_S - PROOF_IAT_WINDOW_S }), expected),
    ).resolves.toBeDefined();
    await expect(
      checkProof(await proof({ iat: NOW_S + PROOF_IAT_WINDOW_S }), expected),
    ).resolves.toBeDefined();
    expect(await refusedWith(await proof({ iat: NOW_S - PROOF_IAT_WINDOW_S - 1 }))).toBe(
      `DPoP proof refused: its "iat" is 61 s in the past; sign a new proof (at most 60 s from the broker's clock)`,
    );
    expect(await refusedWith(await proof({ iat: NOW_S + PROOF_IAT_WINDOW_S + 1 }))).toBe(
      `DPoP proof refused: its "iat" is 61 s in the future; sign a new proof (at most 60 s from the broker's clock)`,
    );
  });

  it('judges iat by the injected clock: the same proof goes stale when the clock jumps', async () => {
    const signed = await proof();
    await expect(checkProof(signed, expected)).resolves.toBeDefined();
    expect(await refusedWith(signed, { ...expected, now: NOW + 3_600_000 })).toMatch(
      /"iat" is 3600 s in the past/,
    );
  });

  it('compares htu without query and fragment, after RFC 3986 normalisation', async () => {
    for (const htu of [
      'HTTPS://IDP.example.COM:443/oauth2/token',
      'https://idp.example.com/oauth2/token?x=1#frag',
      'https://idp.example.com/oauth2/./%74oken',
      'https://user@idp.example.com/oauth2/token',
    ])
      await expect(checkProof(await proof({ htu }), expected), htu).resolves.toBeDefined();
    for (const htu of [
      'http://idp.example.com/oauth2/token',
      'https://idp.example.com:8443/oauth2/token',
      'https://idp.example.com/oauth2/token/',
      'https://idp.example.com/oauth2/Token',
      'urn:x:token',
    ])
      expect(await refusedWith(await proof({ htu })), htu).toBe(
        `DPoP proof refused: its "htu" must be the profile's token endpoint ${URL_}`,
      );
  });

  it('compares htu to an endpoint that has a query of its own without that query', async () => {
    const withQuery = { ...expected, url: `${URL_}?api-version=2` };
    await expect(checkProof(await proof(), withQuery)).resolves.toBeDefined();
  });

  it('refuses htm other than the endpoint’s method, case-sensitively', async () => {
    expect(await refusedWith(await proof({ htm: 'post' }))).toBe(
      'DPoP proof refused: its "htm" must be "POST"',
    );
    await expect(
      checkProof(await proof({ htm: 'GET' }), { ...expected, method: 'GET' }),
    ).resolves.toBeDefined();
  });

  it('refuses a typ other than dpop+jwt', async () => {
    for (const typ of ['JWT', 'at+jwt', undefined])
      expect(await refusedWith(await proof({ header: { typ } }))).toBe(
        'DPoP proof refused: its "typ" header must be "dpop+jwt"',
      );
  });

  it('refuses alg none and symmetric algorithms', async () => {
    const header = base64url.encode(JSON.stringify({ typ: 'dpop+jwt', alg: 'none', jwk: es256.jwk }));
    const body = base64url.encode(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW_S }));
    expect(await refusedWith(`${header}.${body}.`)).toBe(
      'DPoP proof refused: the DPoP header must be one JWT in compact form',
    );
    expect(await refusedWith(`${header}.${body}.c2ln`)).toMatch(
      /^DPoP proof refused: its "alg" must be an asymmetric/,
    );
    const hs = await new SignJWT({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW_S })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: 'c2VjcmV0' } as JWK })
      .sign(new TextEncoder().encode('secret-secret-secret-secret-secret!'));
    expect(await refusedWith(hs)).toMatch(
      /^DPoP proof refused: its "alg" must be an asymmetric signature algorithm: one of ES256/,
    );
  });

  it('refuses a jwk header that holds a private key', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const privateJwk = await exportJWK(privateKey);
    expect(await refusedWith(await proof({ header: { jwk: privateJwk } }))).toBe(
      'DPoP proof refused: its "jwk" header holds private key material; put only the public key there',
    );
    expect(await refusedWith(await proof({ header: { jwk: undefined } }))).toBe(
      'DPoP proof refused: the "jwk" header must hold the public key the proof is signed with',
    );
  });

  it('refuses a proof whose signature is not by the key in its jwk header', async () => {
    const other = await proofKey();
    expect(await refusedWith(await proof({ header: { jwk: other.jwk } }))).toBe(
      'DPoP proof refused: its signature does not verify with the key in its "jwk" header',
    );
    const signed = await proof();
    const [h, p] = signed.split('.');
    const tampered = `${h}.${base64url.encode(JSON.stringify({ jti: 'x', htm: 'POST', htu: URL_, iat: NOW_S }))}.${signed.split('.')[2]}`;
    expect(p).not.toBe(tampered.split('.')[1]);
    expect(await refusedWith(tampered)).toMatch(/signature does not verify/);
  });

  it('refuses a jwk that does not fit the alg', async () => {
    const p384 = await proofKey('ES384');
    expect(await refusedWith(await proof({ header: { jwk: p384.jwk } }))).toBe(
      'DPoP proof refused: its "jwk" header is not a public key usable with ES256',
    );
  });

  it('refuses RSA keys whose size or exponent would make verifying costly', async () => {
    const rsa = await proofKey('PS256');
    const hugeExponent = { ...rsa.jwk, e: base64url.encode(new Uint8Array(64).fill(255)) };
    expect(
      await refusedWith(await makeProof(rsa, { htu: URL_, iat: NOW_S, header: { jwk: hugeExponent } })),
    ).toBe('DPoP proof refused: RSA keys may have at most 8192 bits and a public exponent of 4 bytes');
  });

  it('refuses missing or malformed jti, iat and nonce claims', async () => {
    expect(await refusedWith(await proof({ claims: { jti: undefined } }))).toBe(
      'DPoP proof refused: its "jti" must be a unique string of 1 to 256 characters',
    );
    expect(await refusedWith(await proof({ claims: { jti: 'x'.repeat(257) } }))).toMatch(/"jti" must be/);
    expect(await refusedWith(await proof({ claims: { iat: String(NOW_S) } }))).toBe(
      'DPoP proof refused: its "iat" must be a number of seconds',
    );
    expect(await refusedWith(await proof({ claims: { htu: undefined } }))).toMatch(/"htu" must be/);
    expect(await refusedWith(await proof({ claims: { nonce: 42 } }))).toBe(
      'DPoP proof refused: its "nonce" must be a string',
    );
  });

  it('refuses two DPoP headers (joined with a comma), an oversized one and one that is not a JWS', async () => {
    const one = await proof();
    expect(await refusedWith(`${one},${await proof()}`)).toBe(
      'DPoP proof refused: send exactly one DPoP header',
    );
    expect(await refusedWith(`${one}${'A'.repeat(MAX_PROOF_LENGTH)}`)).toBe(
      `DPoP proof refused: it is longer than ${MAX_PROOF_LENGTH} characters`,
    );
    expect(await refusedWith('not a jwt')).toBe(
      'DPoP proof refused: the DPoP header must be one JWT in compact form',
    );
    expect(await refusedWith('e30.e30.e30.e30.e30')).toBe(
      'DPoP proof refused: the DPoP header must be one JWT in compact form',
    );
    expect(await refusedWith('!!.e30.c2ln'.replace('!!', 'eyJ'))).toBe(
      'DPoP proof refused: its header is not base64url-encoded JSON',
    );
  });

  it('never puts the proof, or any part of it, in its messages', async () => {
    const bad = await proof({ htu: 'https://elsewhere.example/token', jti: 'secret-jti-value' });
    const message = await refusedWith(bad);
    for (const part of bad.split('.')) expect(message).not.toContain(part.slice(0, 16));
    expect(message).not.toContain('secret-jti-value');
    expect(message).not.toContain('elsewhere');
  });
});

describe('normalisedHtu', () => {
  it('lower-cases scheme and host, drops default port, query, fragment and user info', () => {
    expect(normalisedHtu('HTTPS://u:p@Example.COM:443/a/%7euser/%2f?q#f')).toBe(
      'https://example.com/a/~user/%2F',
    );
    expect(normalisedHtu('http://example.com')).toBe('http://example.com/');
    expect(normalisedHtu('ftp://example.com/')).toBeUndefined();
    expect(normalisedHtu('/relative')).toBeUndefined();
    expect(htuMatches('https://example.com:8443/t', 'https://example.com:8443/t?x')).toBe(true);
  });
});

describe('ProofReplayCache', () => {
  const endpoint = { method: 'POST', url: 'https://idp.example.com/token' };
  const id = (thumbprint: string, jti: string) => proofId({ thumbprint, jti }, endpoint);

  it('refuses the same key, endpoint and jti while remembered, but not the same jti of another key or endpoint', () => {
    const cache = new ProofReplayCache();
    const entry = { id: id('a', 'j'), freshUntil: NOW + 60_000 };
    expect(cache.claim(entry, NOW)).toBe('accepted');
    expect(cache.claim(entry, NOW + 60_000)).toBe('replayed');
    expect(cache.claim({ ...entry, id: id('b', 'j') }, NOW)).toBe('accepted');
    const other = proofId({ thumbprint: 'a', jti: 'j' }, { ...endpoint, url: 'https://idp.example.com/t2' });
    expect(cache.claim({ ...entry, id: other }, NOW)).toBe('accepted');
    // Past freshUntil the proof's own iat refuses it; the cache may forget it.
    expect(cache.claim(entry, NOW + 60_001)).toBe('accepted');
  });

  it('refuses a new proof when full of fresh ones rather than forgetting one, and makes room as they go stale', () => {
    const cache = new ProofReplayCache(3);
    for (const jti of ['1', '2', '3'])
      cache.claim({ id: id('a', jti), freshUntil: NOW + 60_000 + Number(jti) }, NOW);
    expect(cache.claim({ id: id('a', '4'), freshUntil: NOW + 60_000 }, NOW + 10_000)).toBe('full');
    expect(cache.retryAfterMs(NOW + 10_000)).toBe(50_002);
    expect(
      cache.claim({ id: id('a', '1'), freshUntil: NOW + 60_000 }, NOW + 10_000),
      'the first is still remembered',
    ).toBe('replayed');
    expect(cache.size).toBe(3);
    expect(cache.claim({ id: id('a', '4'), freshUntil: NOW + 120_000 }, NOW + 60_002)).toBe('accepted');
    expect(cache.claim({ id: id('a', '2'), freshUntil: NOW + 60_002 }, NOW + 60_002)).toBe('replayed');
  });
});
