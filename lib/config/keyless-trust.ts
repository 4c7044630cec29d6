/**
 * What to enter at the provider so that it trusts a keyless profile's web identity JWT
 * (docs/keyless.md): the account's issuer URL, the subject (the function roles' ARNs) and
 * the audience, in the provider's own words where a preset knows them.
 */
import type { Profile } from './types.ts';

/** The roles whose JWTs the provider sees, as the stack outputs name them (serverless.yml). */
export const ROLE_SUBJECTS =
  'arn:aws:iam::<account>:role/token-broker-<stage>-TokenRole-<suffix> and …-RefreshRole-<suffix> (stack outputs TokenRoleArn, RefreshRoleArn), one trust per role';

/** Where the provider keeps the trust, per preset. */
function place(profile: Profile): string {
  switch (profile.provider) {
    case 'entra-federated':
      return `Entra app ${profile.clientId}: Certificates & secrets > Federated credentials > Add > Other issuer`;
    case 'google-wif':
      return 'the workload identity pool provider (OIDC): issuer, allowed audience; attribute mapping google.subject=assertion.sub; principal://…/subject/<role ARN> granted on the resources or the service account';
    default:
      return "the provider's trust of an external OIDC issuer";
  }
}

/**
 * The lines `check` prints for a profile with `webIdentity`: what it sends, and the trust
 * settings. `issuer` is the account's issuer URL when `--live` read it, else undefined
 * (the line then says what `--live` adds).
 */
export function trustLines(profile: Profile, issuer: string | undefined): string[] {
  const settings = profile.webIdentity;
  if (settings === undefined) return [];
  const keyless = settings.fallback === undefined;
  return [
    `${keyless ? 'keyless: no key; sends' : 'web identity first, the keystore key when STS says the feature is off:'} the JWT STS GetWebIdentityToken signs for the function's role (${settings.algorithm}, ${settings.lifetime} s${Object.keys(settings.tags).length > 0 ? `, tags ${Object.keys(settings.tags).sort().join(', ')}` : ''})`,
    `trust at the provider (${place(profile)}):`,
    issuer !== undefined
      ? `  issuer: ${issuer}`
      : "  issuer: the account's issuer URL; run check --live to read it from one STS call (or: aws iam get-outbound-web-identity-federation-info)",
    `  subject: ${ROLE_SUBJECTS}`,
    `  audience: ${settings.audience.join(', ')}`,
  ];
}
