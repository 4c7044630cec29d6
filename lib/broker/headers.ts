import type { Profile } from '../config/types.ts';
import { isSecretReference } from '../secrets/reference.ts';
import type { SecretResolver } from '../secrets/types.ts';

/** A profile ready for the token endpoint, and the secret values it sends. */
export interface ResolvedSendables {
  /** The profile with its `headers` and `params` references resolved. */
  readonly profile: Profile;
  /** The values resolved from secret references (never log them): redacted from provider text. */
  readonly credentials: readonly string[];
}

/**
 * The profile's token-endpoint headers and extra parameters (`params`) with secret
 * references resolved, so a DataDirect SecurityToken imported as `env:…` or a
 * `client_secret` kept in Secrets Manager is sent as its value, and those values, for the
 * exchange to redact from whatever the provider answers. Plain values pass through; the
 * profile is returned as is when nothing needs it.
 *
 * @throws SecretError with the `ERR_SECRET_*` codes of the resolver.
 */
export async function withResolvedHeaders(
  profile: Profile,
  secrets: SecretResolver,
): Promise<ResolvedSendables> {
  const needs = (values: Readonly<Record<string, string>>) => Object.values(values).some(isSecretReference);
  if (!needs(profile.headers) && !needs(profile.params)) return { profile, credentials: [] };
  const credentials: string[] = [];
  const [headers, params] = await Promise.all([
    resolveValues(profile.headers, secrets, credentials),
    resolveValues(profile.params, secrets, credentials),
  ]);
  return { profile: { ...profile, headers, params }, credentials };
}

async function resolveValues(
  values: Readonly<Record<string, string>>,
  secrets: SecretResolver,
  credentials: string[],
): Promise<Record<string, string>> {
  const resolved = await Promise.all(
    Object.entries(values).map(async ([name, value]) => {
      if (!isSecretReference(value)) return [name, value];
      const secret = await secrets.resolveText(value);
      credentials.push(secret);
      return [name, secret];
    }),
  );
  return Object.fromEntries(resolved) as Record<string, string>;
}
