import { CALLBACK_PATH } from '../config/callback-path.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import { brokerConsentUrl } from './authorize-url.ts';

/**
 * The broker's base URL for a profile's consent links: `consent.baseUrl`, else the
 * profile's redirectUri without its trailing `/consent/callback`, else `fallback()` (the
 * local server's own URL). Starting from the redirectUri's origin matters: the state
 * cookie set by the start route is only sent back to the callback on the same host.
 */
export function consentBaseUrl(
  config: Pick<BrokerConfig, 'consent'>,
  profile: Pick<Profile, 'redirectUri'>,
  fallback?: () => string | undefined,
): string | undefined {
  if (config.consent.baseUrl !== undefined) return config.consent.baseUrl;
  if (profile.redirectUri !== undefined) {
    const url = new URL(profile.redirectUri);
    if (url.pathname.endsWith(CALLBACK_PATH) && url.search === '') {
      // Keep the explicit port the redirectUri carries (URL drops a default one).
      const text = profile.redirectUri.trim();
      return text.slice(0, text.length - CALLBACK_PATH.length);
    }
  }
  return fallback?.();
}

/**
 * The `consentUrl` dependency of `createBroker`: the broker's consent-start URL for a
 * profile and subject, or undefined when the profile has no consent step (no authUri) or
 * no base URL is known.
 */
export function consentUrlBuilder(
  config: Pick<BrokerConfig, 'consent' | 'profiles'>,
  fallback?: () => string | undefined,
): (profile: string, subject: string) => string | undefined {
  return (name, subject) => {
    const profile = Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
    if (!profile || profile.authUri === undefined || profile.redirectUri === undefined) return undefined;
    const base = consentBaseUrl(config, profile, fallback);
    return base === undefined || base === '' ? undefined : brokerConsentUrl(base, name, subject);
  };
}
