/**
 * Which provider answers mean "this key (or its certificate) is not accepted", so that the
 * broker opens its key material afresh once: a rotated keystore, or a certificate the
 * provider dropped. Per preset, from the providers' documented answers; the generic rule
 * is the default of every preset.
 */
import type { ProviderName } from '../config/types.ts';
import type { UpstreamRejected } from '../errors.ts';

/** One answer: the OAuth `error`, and words its description must contain (any of them), if any. */
interface KeyRejection {
  readonly error: string;
  readonly description?: RegExp;
}

/** Descriptions that speak of the key, the signature or the certificate. */
const KEY_WORDS =
  /\b(key|keys|signature|signatures|signed|certificate|cert|x5t|kid|jwks?)\b|_keys?_|_signatures?/i;

/**
 * The generic rule: `invalid_client` and `unauthorized_client` always (RFC 6749 §5.2: the
 * client authentication failed), `invalid_grant` when its description speaks of the key,
 * the signature or the certificate (RFC 7523 §3.1: the §2.1 grant's assertion is refused
 * with `invalid_grant`, for an expired assertion too, which reopening would not help).
 */
const GENERIC: readonly KeyRejection[] = [
  { error: 'invalid_client' },
  { error: 'unauthorized_client' },
  { error: 'invalid_grant', description: KEY_WORDS },
];

/** Extra answers of some presets. */
const BY_PRESET: Partial<Record<ProviderName, readonly KeyRejection[]>> = {
  // DocuSign: `{"error":"invalid_grant","error_description":"no_valid_keys_or_signatures"}` (covered by KEY_WORDS).
  // Salesforce answers a certificate it does not know with "invalid assertion".
  salesforce: [{ error: 'invalid_grant', description: /invalid assertion/i }],
  'salesforce-sandbox': [{ error: 'invalid_grant', description: /invalid assertion/i }],
  // Google: "Invalid JWT Signature." (covered by KEY_WORDS).
};

/**
 * True when `err` from `provider`'s token endpoint means the key was refused.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function rejectsKey(provider: ProviderName, err: UpstreamRejected): boolean {
  const rules = [...GENERIC, ...(BY_PRESET[provider] ?? [])];
  return rules.some(
    (rule) =>
      rule.error === err.error &&
      (rule.description === undefined || rule.description.test(err.errorDescription ?? '')),
  );
}
