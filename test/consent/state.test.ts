import { describe, expect, it } from 'vitest';
import {
  CONSENT_STATE_MAX_AGE_MS,
  consentCookie,
  mintConsentState,
  pkceChallenge,
  pkceVerifier,
  readCookie,
  verifyConsentState,
} from '../../lib/consent/state.ts';
import { ConsentError } from '../../lib/errors.ts';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const now = 1_800_000_000_000;

function expectStateError(fn: () => unknown, why: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConsentError);
  expect((caught as ConsentError).code).toBe('ERR_CONSENT_STATE');
  expect((caught as ConsentError).message).toBe(`consent link is not valid: ${why}; start the consent again`);
}

describe('consent state', () => {
  it('verifies a state it minted, with its cookie, and returns the claims', () => {
    const minted = mintConsentState(key, { profile: 'docusign', subject: 'jsmith@example.com' }, now);
    const claims = verifyConsentState(key, minted.state, minted.cookieValue, now + 1000);
    expect(claims).toEqual(minted.claims);
    expect(claims.profile).toBe('docusign');
    expect(claims.subject).toBe('jsmith@example.com');
    expect(claims.expiresAt).toBe(now + CONSENT_STATE_MAX_AGE_MS);
  });

  it('gives each state its own nonce and cookie', () => {
    const a = mintConsentState(key, { profile: 'p', subject: 's' }, now);
    const b = mintConsentState(key, { profile: 'p', subject: 's' }, now);
    expect(a.claims.nonce).not.toBe(b.claims.nonce);
    expect(a.cookieValue).not.toBe(b.cookieValue);
  });

  it('refuses a state whose payload was altered', () => {
    const minted = mintConsentState(key, { profile: 'p', subject: 'alice@example.com' }, now);
    const [v, payload, sig] = minted.state.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    claims['subject'] = 'mallory@example.com';
    const forged = `${v}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    expectStateError(
      () => verifyConsentState(key, forged, minted.cookieValue, now),
      'state signature does not match',
    );
  });

  it('refuses a state signed with another key', () => {
    const minted = mintConsentState(otherKey, { profile: 'p', subject: 's' }, now);
    expectStateError(
      () => verifyConsentState(key, minted.state, minted.cookieValue, now),
      'state signature does not match',
    );
  });

  it('refuses an expired state', () => {
    const minted = mintConsentState(key, { profile: 'p', subject: 's' }, now);
    expectStateError(
      () => verifyConsentState(key, minted.state, minted.cookieValue, now + CONSENT_STATE_MAX_AGE_MS + 1),
      'state has expired',
    );
  });

  it('refuses a state presented with another browser cookie, or none', () => {
    const minted = mintConsentState(key, { profile: 'p', subject: 's' }, now);
    const other = mintConsentState(key, { profile: 'p', subject: 's' }, now);
    expectStateError(
      () => verifyConsentState(key, minted.state, other.cookieValue, now),
      'state was started in another browser',
    );
    expectStateError(
      () => verifyConsentState(key, minted.state, undefined, now),
      'the consent cookie is missing (was consent started in this browser?)',
    );
  });

  it('refuses missing and malformed states', () => {
    expectStateError(() => verifyConsentState(key, undefined, 'c', now), 'state is missing');
    expectStateError(() => verifyConsentState(key, 'garbage', 'c', now), 'state is malformed');
    expectStateError(() => verifyConsentState(key, 'v2.a.b', 'c', now), 'state is malformed');
  });

  it('refuses a short key', () => {
    expect(() => mintConsentState(Buffer.alloc(8), { profile: 'p', subject: 's' }, now)).toThrow(TypeError);
  });
});

describe('PKCE and cookies', () => {
  it('derives a stable RFC 7636 verifier per nonce and its S256 challenge', () => {
    const verifier = pkceVerifier(key, 'nonce-1');
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pkceVerifier(key, 'nonce-1')).toBe(verifier);
    expect(pkceVerifier(key, 'nonce-2')).not.toBe(verifier);
    // RFC 7636 Appendix B example.
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('reads a cookie from a header or an API Gateway cookies array', () => {
    expect(readCookie('a=1; tb_consent=xyz; b=2', 'tb_consent')).toBe('xyz');
    expect(readCookie(['a=1', 'tb_consent=abc'], 'tb_consent')).toBe('abc');
    expect(readCookie(undefined, 'tb_consent')).toBeUndefined();
    expect(readCookie('tb_consentx=1', 'tb_consent')).toBeUndefined();
  });

  it('sets the binding cookie HttpOnly, Secure and SameSite=Lax', () => {
    expect(consentCookie('v', '/consent')).toBe(
      'tb_consent=v; Path=/consent; Max-Age=600; HttpOnly; Secure; SameSite=Lax',
    );
  });
});
