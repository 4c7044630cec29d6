import type { Context, ScheduledEvent } from 'aws-lambda';
import type { HttpEvent } from '../../lib/http/event.ts';

/** An API Gateway HTTP API (payload 2.0) event as API Gateway sends it with `authorizer: aws_iam`. */
export function apiEvent(options: {
  routeKey?: string;
  body?: string | undefined;
  userArn?: string | undefined;
  headers?: Record<string, string>;
  isBase64Encoded?: boolean;
}): HttpEvent {
  const routeKey = options.routeKey ?? 'POST /token';
  const [method = 'POST', path = '/token'] = routeKey.split(' ');
  const userArn = options.userArn;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: {
      'Content-Type': 'application/json',
      Host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      ...options.headers,
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey,
      stage: '$default',
      time: '01/Jan/2030:00:00:00 +0000',
      timeEpoch: 1893456000000,
      ...(userArn === undefined
        ? {}
        : {
            authorizer: {
              iam: {
                accessKey: 'ASIAEXAMPLE',
                accountId: '123456789012',
                callerId: 'AROAEXAMPLE:session',
                cognitoIdentity: null,
                principalOrgId: 'o-example',
                userArn,
                userId: 'AROAEXAMPLE:session',
              },
            } as never,
          }),
    },
    isBase64Encoded: options.isBase64Encoded ?? false,
    ...(options.body === undefined ? {} : { body: options.body }),
  };
}

/** A Lambda context with a generous deadline. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'token-broker-test-token',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:token-broker-test-token',
    memoryLimitInMB: '512',
    awsRequestId: 'aws-req-1',
    logGroupName: '/aws/lambda/token-broker-test-token',
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 28_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An EventBridge scheduled event, as serverless.yml's `schedule` sends it to the refresh function. */
export const SCHEDULED_EVENT: ScheduledEvent = {
  version: '0',
  id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '123456789012',
  time: '2030-01-01T00:00:00Z',
  region: 'eu-west-1',
  resources: ['arn:aws:events:eu-west-1:123456789012:rule/token-broker-ci-RefreshEventsRuleSchedule1'],
  detail: {},
};
