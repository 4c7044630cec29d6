import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { authorizeCaller, SEEN_CALLERS_LIMIT } from '../../lib/auth/policy.ts';
import { matchesAny } from '../../lib/auth/pattern.ts';
import { RequestError } from '../../lib/errors.ts';
import type { Caller } from '../../lib/types.ts';

function allowed(callers: readonly string[], id: string): boolean {
  const caller: Caller = { id, kind: 'iam' } as Caller;
  try {
    authorizeCaller({ name: 'p', callers }, caller);
    return true;
  } catch (err) {
    expect(err).toBeInstanceOf(RequestError);
    expect((err as RequestError).code).toBe('ERR_FORBIDDEN');
    return false;
  }
}

describe('caller policy, matched once per (callers list, caller)', () => {
  it('answers every request as the patterns do, however often a caller comes back', () => {
    const lists = [
      ['arn:aws:iam::123456789012:role/billing-*'],
      ['arn:aws:iam::123456789012:role/*-api', 'local'],
      [] as string[],
    ];
    const ids = fc.constantFrom(
      'arn:aws:iam::123456789012:role/billing-reports',
      'arn:aws:iam::123456789012:role/orders-api',
      'arn:aws:iam::999999999999:role/billing-reports',
      'local',
      '',
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(lists.length - 1), ids), { maxLength: 80 }), (requests) => {
        for (const [list, id] of requests)
          expect(allowed(lists[list]!, id)).toBe(id !== '' && matchesAny(lists[list]!, id));
      }),
      { numRuns: 200 },
    );
  });

  it('a new callers list (a reload) is matched afresh, and answers stay right past the bound', () => {
    const id = 'arn:aws:iam::123456789012:role/billing-reports';
    expect(allowed(['arn:aws:iam::123456789012:role/billing-*'], id)).toBe(true);
    expect(allowed(['arn:aws:iam::123456789012:role/orders-*'], id)).toBe(false);
    const list = ['arn:aws:iam::123456789012:role/billing-*'];
    expect(allowed(list, id)).toBe(true);
    for (let i = 0; i <= SEEN_CALLERS_LIMIT + 5; i++) expect(allowed(list, `caller-${i}`)).toBe(false);
    expect(allowed(list, id)).toBe(true);
  });
});
