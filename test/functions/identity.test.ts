import { describe, expect, it } from 'vitest';
import { callerFromEvent, normalizePrincipalArn } from '../../lib/http/identity.ts';
import { isBrokerError } from '../../lib/errors.ts';
import { apiEvent } from './events.ts';

describe('normalizePrincipalArn', () => {
  it('turns an assumed-role session into its role ARN, in any partition', () => {
    expect(normalizePrincipalArn('arn:aws:sts::123456789012:assumed-role/billing-reports/i-0abc')).toBe(
      'arn:aws:iam::123456789012:role/billing-reports',
    );
    expect(normalizePrincipalArn('arn:aws-cn:sts::123456789012:assumed-role/r/s@x.com')).toBe(
      'arn:aws-cn:iam::123456789012:role/r',
    );
  });

  it('keeps users, roles with paths and federated users unchanged', () => {
    for (const arn of [
      'arn:aws:iam::123456789012:user/alice',
      'arn:aws:iam::123456789012:role/team/billing',
      'arn:aws:sts::123456789012:federated-user/bob',
    ]) {
      expect(normalizePrincipalArn(arn)).toBe(arn);
    }
  });

  it('rejects what is not an IAM principal ARN', () => {
    expect(normalizePrincipalArn('alice')).toBeUndefined();
    expect(normalizePrincipalArn('arn:aws:sts::123456789012:assumed-role/only-role')).toBeUndefined();
    expect(normalizePrincipalArn('arn:aws:s3:::bucket')).toBeUndefined();
  });
});

describe('callerFromEvent', () => {
  it('reads the IAM principal API Gateway verified', () => {
    expect(callerFromEvent(apiEvent({ userArn: 'arn:aws:sts::123456789012:assumed-role/app/s1' }))).toEqual({
      id: 'arn:aws:iam::123456789012:role/app',
      kind: 'iam',
    });
  });

  it("reads the local server's API key or loopback caller", () => {
    const event = apiEvent({});
    event.requestContext.authorizer = { lambda: { callerId: 'team-billing', callerKind: 'api-key' } };
    expect(callerFromEvent(event)).toEqual({ id: 'team-billing', kind: 'api-key' });
  });

  it('throws ERR_UNAUTHENTICATED for a missing identity or a principal that is not IAM', () => {
    let err: unknown;
    try {
      callerFromEvent(apiEvent({ userArn: 'not-an-arn' }));
    } catch (e) {
      err = e;
    }
    expect(isBrokerError(err, 'ERR_UNAUTHENTICATED')).toBe(true);
    expect((err as Error).message).toBe(
      'the caller is not an IAM user or role; sign the request with IAM credentials (SigV4)',
    );
    expect(() => callerFromEvent(apiEvent({}))).toThrow(/carries no caller identity/);
  });
});
