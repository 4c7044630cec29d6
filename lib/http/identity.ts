/**
 * Who is calling: the principal API Gateway verified (route `authorizer: aws_iam`), or
 * the caller the local server identified. The one place handlers read identity from.
 *
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-access-control-iam.html
 */
import { RequestError } from '../errors.ts';
import type { HttpEvent } from './event.ts';
import type { Caller } from '../types.ts';

const ARN = /^arn:(aws[a-z-]*):(iam|sts)::(\d{12}):(.+)$/;

/**
 * Normalises an IAM principal ARN for matching against `callers` patterns: an STS
 * assumed-role session `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` becomes the role
 * `arn:aws:iam::ACCOUNT:role/ROLE`. A session ARN does not carry the role's path, so a
 * role `role/team/billing` is matched as `role/billing`; write `callers` patterns without
 * the path (or with `*`). Users, roles and other principals are returned unchanged.
 *
 * @returns undefined when `arn` is not an IAM or STS principal ARN
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
 */
export function normalizePrincipalArn(arn: string): string | undefined {
  const match = ARN.exec(arn);
  if (!match) return undefined;
  const [, partition, service, account, resource] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  if (service === 'sts' && resource.startsWith('assumed-role/')) {
    const [, role, session] = resource.split('/');
    if (!role || !session) return undefined;
    return `arn:${partition}:iam::${account}:role/${role}`;
  }
  return arn;
}

/**
 * The caller of an HTTP API request.
 * @throws RequestError ERR_UNAUTHENTICATED when the request carries no identity the broker
 * accepts (no IAM authorizer, an unparsable principal ARN)
 */
export function callerFromEvent(event: Pick<HttpEvent, 'requestContext'>): Caller {
  const authorizer = event.requestContext?.authorizer;
  const userArn = authorizer?.iam?.userArn;
  if (typeof userArn === 'string' && userArn !== '') {
    const id = normalizePrincipalArn(userArn);
    if (id === undefined) {
      throw new RequestError(
        'ERR_UNAUTHENTICATED',
        'the caller is not an IAM user or role; sign the request with IAM credentials (SigV4)',
      );
    }
    return { id, kind: 'iam' };
  }
  const local = authorizer?.lambda;
  if (local && typeof local.callerId === 'string' && local.callerId !== '') {
    if (local.callerKind === 'api-key' || local.callerKind === 'local')
      return { id: local.callerId, kind: local.callerKind };
  }
  if (typeof authorizer?.refused === 'string' && authorizer.refused !== '')
    throw new RequestError('ERR_UNAUTHENTICATED', authorizer.refused);
  throw new RequestError(
    'ERR_UNAUTHENTICATED',
    'the request carries no caller identity; sign it with IAM credentials (SigV4), or send an API key to the local server',
  );
}
