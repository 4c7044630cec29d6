import type { Profile } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import { pkceChallenge, pkceVerifier } from './state.ts';

/**
 * The provider's consent URL for one state: an RFC 6749 §4.1.1 authorization request
 * (`response_type=code`, `client_id`, `redirect_uri` exactly as configured, `scope`,
 * `state`), with an RFC 7636 S256 challenge when the profile uses PKCE.
 *
 * @throws ConfigError `ERR_CONFIG` when the profile has no authUri or redirectUri.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.3
 */
export function providerConsentUrl(
  profile: Profile,
  state: string,
  nonce: string,
  stateKey: Uint8Array,
): string {
  if (!profile.authUri) {
    throw new ConfigError(
      'ERR_CONFIG',
      `profile "${profile.name}": authUri: needed for consent; set authUri or a provider preset`,
    );
  }
  if (!profile.redirectUri) {
    throw new ConfigError(
      'ERR_CONFIG',
      `profile "${profile.name}": redirectUri: needed for consent; set it to the broker's /consent/callback URL`,
    );
  }
  const url = new URL(profile.authUri);
  const scopes = profile.consentScopes.length > 0 ? profile.consentScopes : profile.scopes;
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', profile.clientId);
  url.searchParams.set('redirect_uri', profile.redirectUri);
  if (scopes.length > 0) url.searchParams.set('scope', scopes.join(' '));
  url.searchParams.set('state', state);
  if (profile.pkce) {
    url.searchParams.set('code_challenge', pkceChallenge(pkceVerifier(stateKey, nonce)));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.toString();
}

/**
 * The broker's own consent-start URL for a profile and subject
 * (`GET /consent/{profile}?subject=`), which callers get in a 409 `consent_required`.
 * `baseUrl` is the broker's public origin (and stage path, if any).
 */
export function brokerConsentUrl(baseUrl: string, profile: string, subject: string): string {
  const base = baseUrl.endsWith('/') ? baseUrl.slice(0, -1) : baseUrl;
  return `${base}/consent/${encodeURIComponent(profile)}?subject=${encodeURIComponent(subject)}`;
}
