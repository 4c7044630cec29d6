import { hash } from 'node:crypto';
import type { TokenDescriptor } from './types.ts';

/**
 * The cache key of a token: SHA-256 (hex) over profile, issuer, subject, audience, grant
 * and the sorted scopes, plus the profile's extra request parameters when it has any and
 * the DPoP key thumbprint of a DPoP-bound token (so keys of profiles without them stay as
 * they were). The in-process cache and the shared store use the same key, so it must stay
 * stable across versions; it carries no secret and reveals no subject.
 */
export function cacheKey(descriptor: TokenDescriptor): string {
  const scopes = [...new Set(descriptor.scopes)].sort();
  const parts: unknown[] = [
    'v1',
    descriptor.profile,
    descriptor.issuer,
    descriptor.subject,
    descriptor.audience,
    descriptor.grant,
    scopes,
  ];
  const params = Object.entries(descriptor.params ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (params.length > 0) parts.push(params);
  if (descriptor.dpopJkt !== undefined) parts.push({ dpop: descriptor.dpopJkt });
  const material = JSON.stringify(parts);
  return hash('sha256', material, 'hex');
}
