import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConsentError } from '../errors.ts';

/** How long a consent `state` stays valid: the user has this long to log in and approve. */
export const CONSENT_STATE_MAX_AGE_MS = 10 * 60 * 1000;

/** Name of the cookie that binds a `state` to the browser that started the flow. */
export const CONSENT_COOKIE_NAME = 'tb_consent';

const STATE_VERSION = 'v1';

/** What a consent `state` carries. Nothing in it is secret; it is signed, not encrypted. */
export interface ConsentState {
  readonly profile: string;
  /** Empty for the profile's own `subject`, which the readable state never carries. */
  readonly subject: string;
  /** Random, single use: recorded at the callback so a replay is refused. */
  readonly nonce: string;
  /** Expiry, epoch milliseconds. */
  readonly expiresAt: number;
  /** base64url SHA-256 of the binding cookie's value. */
  readonly binding: string;
}

/** A freshly minted state with the cookie value that must accompany it. */
export interface MintedState {
  readonly state: string;
  readonly cookieValue: string;
  readonly claims: ConsentState;
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

function sign(key: Uint8Array, payload: string): Buffer {
  return createHmac('sha256', key).update(`${STATE_VERSION}.${payload}`).digest();
}

function bindingOf(cookieValue: string): string {
  return createHash('sha256').update(cookieValue, 'utf8').digest('base64url');
}

/**
 * Mints a signed `state` for the consent redirect, and the cookie value it is bound to.
 * The state is `v1.<base64url JSON>.<base64url HMAC-SHA256>`.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12 (CSRF protection with `state`)
 */
export function mintConsentState(
  key: Uint8Array,
  fields: { profile: string; subject: string },
  now: number,
): MintedState {
  if (key.length < 32) throw new TypeError('consent state key must be at least 32 bytes');
  const cookieValue = b64url(randomBytes(32));
  const claims: ConsentState = {
    profile: fields.profile,
    subject: fields.subject,
    nonce: b64url(randomBytes(18)),
    expiresAt: now + CONSENT_STATE_MAX_AGE_MS,
    binding: bindingOf(cookieValue),
  };
  const payload = b64url(Buffer.from(JSON.stringify(claims), 'utf8'));
  return { state: `${STATE_VERSION}.${payload}.${b64url(sign(key, payload))}`, cookieValue, claims };
}

const invalid = (why: string): ConsentError =>
  new ConsentError('ERR_CONSENT_STATE', `consent link is not valid: ${why}; start the consent again`);

function parseClaims(json: string): ConsentState {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw invalid('state is malformed');
  }
  if (typeof value !== 'object' || value === null) throw invalid('state is malformed');
  const v = value as Record<string, unknown>;
  if (
    typeof v['profile'] !== 'string' ||
    typeof v['subject'] !== 'string' ||
    typeof v['nonce'] !== 'string' ||
    typeof v['expiresAt'] !== 'number' ||
    typeof v['binding'] !== 'string'
  ) {
    throw invalid('state is malformed');
  }
  return {
    profile: v['profile'],
    subject: v['subject'],
    nonce: v['nonce'],
    expiresAt: v['expiresAt'],
    binding: v['binding'],
  };
}

/**
 * Verifies a `state` returned to the callback: signature, expiry and the binding cookie.
 * Single use is checked separately, against the consent store, with the returned nonce.
 *
 * @throws ConsentError `ERR_CONSENT_STATE` when the state is missing, malformed, tampered,
 * expired, or not bound to the cookie this browser presents.
 */
export function verifyConsentState(
  key: Uint8Array,
  state: string | undefined,
  cookieValue: string | undefined,
  now: number,
): ConsentState {
  if (!state) throw invalid('state is missing');
  const parts = state.split('.');
  if (parts.length !== 3 || parts[0] !== STATE_VERSION) throw invalid('state is malformed');
  const [, payload = '', signature = ''] = parts;
  const expected = sign(key, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw invalid('state signature does not match');
  }
  const claims = parseClaims(Buffer.from(payload, 'base64url').toString('utf8'));
  if (now > claims.expiresAt) throw invalid('state has expired');
  if (!cookieValue) throw invalid('the consent cookie is missing (was consent started in this browser?)');
  const binding = Buffer.from(bindingOf(cookieValue));
  const claimed = Buffer.from(claims.binding);
  if (binding.length !== claimed.length || !timingSafeEqual(binding, claimed)) {
    throw invalid('state was started in another browser');
  }
  return claims;
}

/**
 * The PKCE code verifier for a state's nonce, derived with the state key so the callback
 * can recompute it without storing anything (RFC 7636 §4.1: 43 characters, base64url).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 */
export function pkceVerifier(key: Uint8Array, nonce: string): string {
  return createHmac('sha256', key).update(`pkce.${nonce}`).digest('base64url');
}

/**
 * The S256 code challenge of a verifier.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Reads one cookie's value from a Cookie header (or API Gateway v2's `cookies` array). */
export function readCookie(
  cookies: string | readonly string[] | undefined,
  name: string,
): string | undefined {
  if (cookies === undefined) return undefined;
  const pairs = (typeof cookies === 'string' ? cookies.split(';') : cookies.flatMap((c) => c.split(';'))).map(
    (c) => c.trim(),
  );
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq) === name) return pair.slice(eq + 1);
  }
  return undefined;
}

/** The Set-Cookie value binding the consent state (path-scoped, short-lived). */
export function consentCookie(
  value: string,
  path: string,
  maxAgeSeconds = CONSENT_STATE_MAX_AGE_MS / 1000,
): string {
  return `${CONSENT_COOKIE_NAME}=${value}; Path=${path}; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Lax`;
}
