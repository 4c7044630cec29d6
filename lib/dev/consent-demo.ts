/**
 * The consent part of the local demo: registers the profiles that have a consent step
 * with the development authorization server (redirect URI, client secret, consent
 * required when the profile expects `consent_required`), and points them at it.
 */
import type { BrokerConfig, Profile } from '../config/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { CALLBACK_PATH } from '../config/callback-path.ts';
import type { DevClient } from './authorization-server.ts';

/** Profiles with a consent step (an authUri and a redirectUri). */
export function consentProfiles(config: BrokerConfig): Profile[] {
  return Object.values(config.profiles).filter((p) => p.authUri !== undefined && p.redirectUri !== undefined);
}

/**
 * `config` with every consent profile's authUri set to `authorizeUrl` and, when the
 * broker's URL is known, its redirectUri set to that URL's `/consent/callback`.
 */
export function pointConsentAt(
  config: BrokerConfig,
  authorizeUrl: string,
  brokerUrl: string | undefined,
): BrokerConfig {
  const profiles: Record<string, Profile> = { ...config.profiles };
  for (const profile of consentProfiles(config)) {
    profiles[profile.name] = Object.freeze({
      ...profile,
      authUri: authorizeUrl,
      redirectUri: brokerUrl === undefined ? profile.redirectUri : `${brokerUrl}${CALLBACK_PATH}`,
    });
  }
  return Object.freeze({ ...config, profiles: Object.freeze(profiles) });
}

/**
 * What the authorization server must know of each consent profile's client: its redirect
 * URI, its secret (resolved), and whether the JWT grant waits for consent.
 */
export async function consentClientFields(
  config: BrokerConfig,
  secrets: SecretResolver,
): Promise<Map<string, Pick<DevClient, 'redirectUris' | 'clientSecret' | 'requireConsent'>>> {
  const fields = new Map<string, Pick<DevClient, 'redirectUris' | 'clientSecret' | 'requireConsent'>>();
  for (const profile of consentProfiles(config)) {
    const previous = fields.get(profile.issuer);
    fields.set(profile.issuer, {
      redirectUris: [...(previous?.redirectUris ?? []), profile.redirectUri!],
      ...(profile.clientSecret !== undefined && {
        clientSecret: await secrets.resolveText(profile.clientSecret),
      }),
      requireConsent: (previous?.requireConsent ?? false) || profile.consentErrors.length > 0,
    });
  }
  return fields;
}
