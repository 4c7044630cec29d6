import { describe, expect, it } from 'vitest';
import { compilePattern, matchesAny, matchesPattern } from '../../lib/auth/pattern.ts';
import { authorizeCaller, subjectAllowed } from '../../lib/auth/policy.ts';
import { RequestError } from '../../lib/errors.ts';

const profile = {
  name: 'billing',
  callers: ['arn:aws:iam::123456789012:role/billing-*', 'team-ops'],
  subjects: ['*@example.com', 'svc.account'],
};

describe('matchesPattern', () => {
  it('matches * across any characters and anchors both ends', () => {
    expect(matchesPattern('arn:aws:iam::1:role/billing-*', 'arn:aws:iam::1:role/billing-api')).toBe(true);
    expect(matchesPattern('arn:aws:iam::1:role/billing-*', 'arn:aws:iam::1:role/billing-')).toBe(true);
    expect(matchesPattern('arn:aws:iam::1:role/billing-*', 'xarn:aws:iam::1:role/billing-api')).toBe(false);
    expect(matchesPattern('*-api', 'billing-api-old')).toBe(false);
    expect(matchesPattern('*', 'anything at all')).toBe(true);
  });

  it('treats regex metacharacters literally', () => {
    expect(matchesPattern('svc.account', 'svcXaccount')).toBe(false);
    expect(matchesPattern('a+b(c)?[d]$^|\\', 'a+b(c)?[d]$^|\\')).toBe(true);
    expect(matchesPattern('*.example.com', 'evil.exampleXcom')).toBe(false);
    expect(compilePattern('a.*').test('a.b')).toBe(true);
    expect(compilePattern('a.*').test('ab')).toBe(false);
  });

  it('answers a long near-miss subject against a many-star pattern without backtracking', () => {
    const subject = `arn:${':'.repeat(508)}`;
    expect(matchesPattern('arn:*:*:*:role/*-api', subject)).toBe(false);
    expect(matchesPattern('*a*a*a*a*b', 'a'.repeat(512))).toBe(false);
    expect(matchesPattern('*a*a*a*a*b', `${'a'.repeat(511)}b`)).toBe(true);
    expect(matchesPattern('a**b*', 'ab')).toBe(true);
    expect(matchesPattern('', '')).toBe(true);
    expect(matchesPattern('', 'x')).toBe(false);
  });

  it('is case-sensitive, as IAM ARNs are', () => {
    expect(matchesPattern('arn:aws:iam::1:role/Billing', 'arn:aws:iam::1:role/billing')).toBe(false);
  });

  it('matches nothing for an empty list', () => {
    expect(matchesAny([], 'x')).toBe(false);
  });
});

describe('authorizeCaller', () => {
  it('allows a caller matching a pattern and an exact name', () => {
    expect(() =>
      authorizeCaller(profile, { id: 'arn:aws:iam::123456789012:role/billing-worker', kind: 'iam' }),
    ).not.toThrow();
    expect(() => authorizeCaller(profile, { id: 'team-ops', kind: 'api-key' })).not.toThrow();
  });

  it('denies anyone else with ERR_FORBIDDEN naming caller and profile', () => {
    let err: unknown;
    try {
      authorizeCaller(profile, { id: 'arn:aws:iam::123456789012:role/payroll', kind: 'iam' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({
      code: 'ERR_FORBIDDEN',
      message:
        'caller "arn:aws:iam::123456789012:role/payroll" may not use profile "billing"; add it to the profile\'s callers',
    });
  });

  it('denies everyone when the profile has no callers', () => {
    expect(() => authorizeCaller({ name: 'p', callers: [] }, { id: 'local', kind: 'local' })).toThrow(
      'caller "local" may not use profile "p"; add it to the profile\'s callers',
    );
  });

  it('denies an empty caller id even against *', () => {
    expect(() => authorizeCaller({ name: 'p', callers: ['*'] }, { id: '', kind: 'local' })).toThrow(
      'may not use profile "p"',
    );
  });
});

describe('subjectAllowed', () => {
  it('checks subjects against the patterns', () => {
    expect(subjectAllowed(profile, 'jsmith@example.com')).toBe(true);
    expect(subjectAllowed(profile, 'jsmith@example.com.evil.org')).toBe(false);
    expect(subjectAllowed(profile, 'svc.account')).toBe(true);
    expect(subjectAllowed(profile, '')).toBe(false);
  });
});
