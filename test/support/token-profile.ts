import type { Profile } from '../../lib/config/types.ts';

/** A complete Profile for the token path, with `overrides` applied (assertion options merged). */
export function tokenProfile(
  overrides: Partial<Omit<Profile, 'assertion'>> & { assertion?: Partial<Profile['assertion']> } = {},
): Profile {
  const { assertion, ...rest } = overrides;
  const tokenUri = rest.tokenUri ?? { method: 'POST', url: 'http://127.0.0.1:1/token' };
  return {
    name: 'demo',
    provider: 'generic',
    issuer: 'client-1',
    clientId: 'client-1',
    subject: 'alice@example.com',
    subjects: ['*@example.com'],
    tokenUri,
    audience: tokenUri.url,
    scopes: ['read', 'write'],
    scopeIn: 'form',
    certStore: 'file:key.pem',
    certStoreType: 'auto',
    certPassword: undefined,
    certAlias: undefined,
    keyPassword: undefined,
    certificate: undefined,
    redirectUri: undefined,
    authUri: undefined,
    clientSecret: undefined,
    headers: {},
    grant: 'jwt-bearer',
    callers: ['arn:aws:iam::123456789012:role/billing-*'],
    refresh: undefined,
    rotation: { tryPending: false },
    consentErrors: [{ error: 'consent_required' }],
    consentScopes: [],
    pkce: false,
    responseFields: [],
    params: {},
    tokenType: 'bearer',
    scopeCheck: 'lenient',
    dpop: 'off',
    ...rest,
    assertion: {
      lifetime: 300,
      skew: 30,
      algorithm: 'auto',
      x5t: false,
      x5tS256: false,
      x5c: false,
      kid: false,
      typ: 'JWT',
      claims: {},
      ...assertion,
    },
  };
}
