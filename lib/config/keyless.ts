import { PRESETS } from './presets.ts';
import type { RawProfile } from './schema.ts';
import {
  WEB_IDENTITY_STORE,
  type ImpersonateOptions,
  type ProviderName,
  type WebIdentityOptions,
} from './types.ts';
import { parseSecureUrl, UriProblem } from './uri.ts';

/** STS `DurationSeconds` when the profile gives none (the STS default). */
export const DEFAULT_WEB_IDENTITY_LIFETIME = 300;
/** Lifetime of the impersonated service account's token when the profile gives none (Google's default). */
export const DEFAULT_IMPERSONATE_LIFETIME = 3600;
/** Google's generateAccessToken; `{serviceAccount}` is the service account's e-mail. */
export const IMPERSONATE_URL =
  'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{serviceAccount}:generateAccessToken';

/**
 * Keys that only a key uses: a keyless profile refuses them, so that a leftover
 * `certPassword` does not suggest the profile still holds a key.
 */
const KEY_ONLY = [
  'certStoreType',
  'certPassword',
  'certAlias',
  'keyPassword',
  'certificate',
  'assertion',
] as const;

/** True when `certStore` names no key but the function's own AWS identity. */
export const isKeyless = (certStore: string): boolean => certStore.trim() === WEB_IDENTITY_STORE;

/** What {@link keylessOptions} returns: the settings to put on the profile. */
export interface KeylessSettings {
  readonly webIdentity?: WebIdentityOptions;
  readonly impersonate?: ImpersonateOptions;
}

/** The workload identity provider's resource name without the `//iam.googleapis.com/` prefix. */
export function providerResource(raw: RawProfile): string | undefined {
  return raw.workloadIdentityProvider?.replace(/^\/\/iam\.googleapis\.com\//, '');
}

function webIdentityAudience(
  raw: RawProfile,
  provider: ProviderName,
  profileAudience: string | readonly string[],
): string[] {
  const written = raw.webIdentity?.audience;
  if (written !== undefined) return [...new Set(written)];
  const preset = PRESETS[provider].webIdentityAudience?.(providerResource(raw));
  if (preset !== undefined) return [preset];
  return typeof profileAudience === 'string' ? [profileAudience] : [...profileAudience];
}

function impersonateOptions(
  raw: RawProfile,
  provider: ProviderName,
  add: (key: string, msg: string) => void,
): ImpersonateOptions | undefined {
  const given = raw.impersonate;
  if (given === undefined) return undefined;
  if (provider !== 'google-wif') {
    add('impersonate', 'only the google-wif preset uses it; remove it or set provider: google-wif');
    return undefined;
  }
  // The schema's e-mail rule leaves only characters a path segment takes as they are.
  const url = (given.url ?? IMPERSONATE_URL).replace('{serviceAccount}', given.serviceAccount);
  try {
    parseSecureUrl(url);
  } catch (err) {
    if (err instanceof UriProblem) add('impersonate.url', err.message);
    else throw err;
    return undefined;
  }
  return {
    serviceAccount: given.serviceAccount,
    lifetime: given.lifetime ?? DEFAULT_IMPERSONATE_LIFETIME,
    url,
  };
}

/**
 * The keyless settings of a written profile: `webIdentity` with its defaults (the audience
 * from the profile, else the preset, else the assertion audience), and google-wif's
 * `impersonate`. Problems go to `add` as `<key>: <what to do>`:
 *
 * - `certStore: aws:web-identity` refuses the keys only a key uses, and `fallback`;
 * - a keystore `certStore` with `webIdentity` must say `fallback: keystore` (web identity
 *   is then tried first), and `fallback` needs a keystore;
 * - a profile with web identity takes no consent step (`redirectUri`, `authUri`);
 * - the keyless presets need web identity; google-wif needs `workloadIdentityProvider`.
 */
export function keylessOptions(
  raw: RawProfile,
  provider: ProviderName,
  profileAudience: string | readonly string[],
  add: (key: string, msg: string) => void,
): KeylessSettings {
  const keyless = isKeyless(raw.certStore);
  const given = raw.webIdentity;
  const impersonate = impersonateOptions(raw, provider, add);
  const preset = PRESETS[provider];
  if (provider === 'google-wif' && raw.workloadIdentityProvider === undefined)
    add(
      'workloadIdentityProvider',
      'the google-wif preset needs the pool provider, projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
    );
  if (provider !== 'google-wif' && raw.workloadIdentityProvider !== undefined)
    add('workloadIdentityProvider', 'only the google-wif preset uses it; remove it');
  if (!keyless && given === undefined) {
    if (preset.keyless === true)
      add(
        'certStore',
        `the ${provider} preset uses the function's AWS identity; set certStore: ${WEB_IDENTITY_STORE}`,
      );
    return impersonate ? { impersonate } : {};
  }
  if (keyless) {
    for (const key of KEY_ONLY)
      if (raw[key] !== undefined) add(key, `a ${WEB_IDENTITY_STORE} profile has no key; remove it`);
    if (raw.rotation !== undefined)
      add('rotation', `a ${WEB_IDENTITY_STORE} profile has no key to rotate; remove it`);
    if (given?.fallback !== undefined)
      add(
        'webIdentity.fallback',
        `needs a keystore to fall back to; set certStore to the keystore's reference (secretsmanager:, file:, kms:) or remove fallback`,
      );
  } else if (given?.fallback === undefined) {
    add(
      'webIdentity',
      `the profile also names a keystore; add fallback: keystore (web identity first, the key when STS refuses) or set certStore: ${WEB_IDENTITY_STORE}`,
    );
  }
  if (raw.subjects !== undefined)
    add(
      'subjects',
      "the web identity JWT's subject is the function's role, whatever the caller asks; remove subjects",
    );
  // The consent callback runs as its own role, whose JWT the provider does not trust (only
  // the token and refresh roles are the subjects it is told), and is given no STS access.
  for (const key of ['redirectUri', 'authUri'] as const)
    if (raw[key] !== undefined)
      add(
        key,
        "a web identity profile has no consent step (the provider trusts the token and refresh roles, not the consent callback's); remove it",
      );
  const webIdentity: WebIdentityOptions = {
    audience: webIdentityAudience(raw, provider, profileAudience),
    algorithm: given?.algorithm ?? 'RS256',
    lifetime: given?.lifetime ?? DEFAULT_WEB_IDENTITY_LIFETIME,
    tags: given?.tags ?? {},
    fallback: given?.fallback,
  };
  return { webIdentity, ...(impersonate && { impersonate }) };
}
