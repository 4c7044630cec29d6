import { hash } from 'node:crypto';
import type { TokenDescriptor } from './types.ts';

/**
 * The cache key of a token: SHA-256 (hex) over profile, issuer, subject, audience, grant
 * and the sorted scopes, plus the DPoP key thumbprint of a DPoP-bound token. The
 * in-process cache and the shared store use the same key, so it must stay stable across
 * versions; it carries no secret and reveals no subject.
 */
export function cacheKey(descriptor: TokenDescriptor): string {
  const scopes = [...new Set(descriptor.scopes)].sort();
  const material = JSON.stringify([
    'v1',
    descriptor.profile,
    descriptor.issuer,
    descriptor.subject,
    descriptor.audience,
    descriptor.grant,
    scopes,
    // Absent for Bearer tokens, so their keys stay as they were.
    ...(descriptor.dpopJkt === undefined ? [] : [descriptor.dpopJkt]),
  ]);
  return hash('sha256', material, 'hex');
}
