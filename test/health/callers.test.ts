import { describe, expect, it } from 'vitest';
import { ConfigError, RequestError } from '../../lib/errors.ts';
import { authorizeDeepHealth, parseDeepCallers } from '../../lib/health/callers.ts';

const OPS = 'arn:aws:iam::123456789012:role/ops';

describe('parseDeepCallers (TOKEN_BROKER_HEALTH_DEEP_CALLERS)', () => {
  it('reads comma-separated IAM ARN patterns; unset or empty is nobody', () => {
    expect(parseDeepCallers(undefined)).toEqual([]);
    expect(parseDeepCallers('')).toEqual([]);
    expect(parseDeepCallers(` ${OPS} ,, arn:aws:iam::123456789012:role/sre-* `)).toEqual([
      OPS,
      'arn:aws:iam::123456789012:role/sre-*',
    ]);
  });

  it('rejects an entry that is not an IAM ARN pattern with ERR_CONFIG', () => {
    let caught: unknown;
    try {
      parseDeepCallers(`${OPS},ops`);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toMatchObject({
      code: 'ERR_CONFIG',
      message:
        'healthDeepCallers: "ops" is not an IAM ARN pattern; write arn:aws:iam::<account>:role/<name> (* allowed)',
    });
  });
});

describe('authorizeDeepHealth', () => {
  it('allows a caller matching a pattern, and every caller when there is no rule (local server)', () => {
    expect(() => authorizeDeepHealth({ id: OPS, kind: 'iam' }, [OPS])).not.toThrow();
    expect(() =>
      authorizeDeepHealth({ id: 'arn:aws:iam::123456789012:role/sre-a', kind: 'iam' }, [
        'arn:aws:iam::*:role/sre-*',
      ]),
    ).not.toThrow();
    expect(() => authorizeDeepHealth({ id: 'local', kind: 'local' }, undefined)).not.toThrow();
  });

  it('refuses others with ERR_FORBIDDEN, and everybody when the list is empty', () => {
    const app = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
    for (const patterns of [[OPS], []]) {
      let caught: unknown;
      try {
        authorizeDeepHealth(app, patterns);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RequestError);
      expect(caught).toMatchObject({
        code: 'ERR_FORBIDDEN',
        message:
          'caller "arn:aws:iam::123456789012:role/app" may not ask for GET /health?deep=1; add it to the healthDeepCallers param',
      });
    }
  });
});
