import type { Profile } from '../config/types.ts';
import { isSecretReference } from '../secrets/reference.ts';
import type { SecretResolver } from '../secrets/types.ts';

/**
 * The profile's token-endpoint headers and extra parameters (`params`) with secret
 * references resolved, so a DataDirect SecurityToken imported as `env:…` or a
 * `client_secret` kept in Secrets Manager is sent as its value. Plain values pass through; the profile is returned as is when nothing needs it.
 *
 * @throws SecretError with the `ERR_SECRET_*` codes of the resolver.
 */
export async function withResolvedHeaders(profile: Profile, secrets: SecretResolver): Promise<Profile> {
  const needs = (values: Readonly<Record<string, string>>) => Object.values(values).some(isSecretReference);
  if (!needs(profile.headers) && !needs(profile.params)) return profile;
  const [headers, params] = await Promise.all([
    resolveValues(profile.headers, secrets),
    resolveValues(profile.params, secrets),
  ]);
  return { ...profile, headers, params };
}

async function resolveValues(
  values: Readonly<Record<string, string>>,
  secrets: SecretResolver,
): Promise<Record<string, string>> {
  const resolved = await Promise.all(
    Object.entries(values).map(async ([name, value]) => [
      name,
      isSecretReference(value) ? await secrets.resolveText(value) : value,
    ]),
  );
  return Object.fromEntries(resolved) as Record<string, string>;
}
