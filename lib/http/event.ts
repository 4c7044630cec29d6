/**
 * The API Gateway v2 (HTTP API) event shapes the handlers accept. Deployed, API Gateway
 * fills `requestContext.authorizer.iam` (route `authorizer: aws_iam`); the local server
 * fills either that (SigV4) or `requestContext.authorizer.lambda` (API key, loopback),
 * the way a Lambda authorizer would. Nothing a client sends ends up in `requestContext`.
 *
 * @see https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
 */
import type {
  APIGatewayEventRequestContextV2,
  APIGatewayProxyEventV2WithRequestContext,
  APIGatewayProxyStructuredResultV2,
} from 'aws-lambda';

/** The IAM principal API Gateway verified (only the fields the broker reads). */
export interface IamAuthorizerContext {
  readonly userArn?: string | null;
  readonly accountId?: string | null;
  readonly userId?: string | null;
  readonly accessKey?: string | null;
}

/** The caller the local server identified without IAM: an API key's name, or `local`. */
export interface LocalAuthorizerContext {
  readonly callerId: string;
  readonly callerKind: 'api-key' | 'local';
}

/** `requestContext` with the authorizer fields the identity module reads. */
export type HttpRequestContext = APIGatewayEventRequestContextV2 & {
  authorizer?: {
    iam?: IamAuthorizerContext;
    lambda?: LocalAuthorizerContext;
    /**
     * Local server only: why the SigV4 signature a request carries was refused (no secret
     * in it), so the 403 says "signature does not match" rather than "no identity".
     */
    refused?: string;
  };
};

/** An HTTP API payload v2.0 event as our handlers receive it. */
export type HttpEvent = APIGatewayProxyEventV2WithRequestContext<HttpRequestContext>;

/** The structured result every handler returns. */
export type HttpResult = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
};

/** `Content-Type` of every JSON response. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** A JSON response with the given status. */
export function jsonResult(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'Content-Type': JSON_CONTENT_TYPE, ...headers },
    body: JSON.stringify(body),
  };
}
