import type { Profile } from '../config/types.ts';
import { isSecretReference } from '../secrets/reference.ts';
import type { SecretResolver } from '../secrets/types.ts';

/**
 * The profile's token-endpoint headers with secret references resolved, so a
 * DataDirect SecurityToken imported as `env:…` or kept in Secrets Manager is sent as its
 * value. Plain values pass through; the profile is returned as is when nothing needs it.
 *
 * @throws SecretError with the `ERR_SECRET_*` codes of the resolver.
 */
export async function withResolvedHeaders(profile: Profile, secrets: SecretResolver): Promise<Profile> {
  const entries = Object.entries(profile.headers);
  if (!entries.some(([, value]) => isSecretReference(value))) return profile;
  const resolved = await Promise.all(
    entries.map(async ([name, value]) => [
      name,
      isSecretReference(value) ? await secrets.resolveText(value) : value,
    ]),
  );
  return { ...profile, headers: Object.fromEntries(resolved) as Record<string, string> };
}
