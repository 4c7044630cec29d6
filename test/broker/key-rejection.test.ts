import { describe, expect, it } from 'vitest';
import { rejectsKey } from '../../lib/broker/key-rejection.ts';
import { UpstreamRejected } from '../../lib/errors.ts';

function rejection(error: string, errorDescription?: string): UpstreamRejected {
  return new UpstreamRejected({ status: 400, error, errorDescription });
}

describe('rejectsKey', () => {
  it.each([
    ['generic', 'invalid_client', undefined],
    ['generic', 'unauthorized_client', 'client not allowed'],
    ['generic', 'invalid_grant', 'the assertion signature does not verify with the registered certificate'],
    ['docusign', 'invalid_grant', 'no_valid_keys_or_signatures'],
    ['google', 'invalid_grant', 'Invalid JWT Signature.'],
    ['salesforce', 'invalid_grant', 'invalid assertion'],
  ] as const)('counts %s %s (%s) as a refused key', (provider, error, description) => {
    expect(rejectsKey(provider, rejection(error, description))).toBe(true);
  });

  it.each([
    ['generic', 'invalid_grant', 'assertion expired'],
    ['generic', 'invalid_grant', undefined],
    ['generic', 'invalid_scope', 'bad key scope'],
    ['generic', 'invalid_grant', 'invalid assertion'],
    ['docusign', 'consent_required', undefined],
  ] as const)('does not count %s %s (%s)', (provider, error, description) => {
    expect(rejectsKey(provider, rejection(error, description))).toBe(false);
  });
});
