/**
 * A loopback proxy in front of one AWS service (a loopback fake, dynalite or moto, none of
 * which enforce IAM) that enforces IAM as the real service does: it reads the caller's
 * access key id from the SigV4 `Authorization` header (`Credential=<AKID>/…`), asks the
 * {@link IamAuthority} about the request's action and resource, and either forwards the
 * request unchanged or answers the service's own denial:
 *
 * - JSON 1.0/1.1 services: HTTP 400 `AccessDeniedException` (DynamoDB's namespaced
 *   `__type`), message `User: <session ARN> is not authorized to perform: <action> on
 *   resource: <ARN> because no identity-based policy allows the <action> action`;
 * - Secrets Manager reading a secret under a customer-managed key the role may not
 *   `kms:Decrypt` (via Secrets Manager): 400 `AccessDeniedException` "Access to KMS is not allowed";
 * - Lambda (REST): 403 `AccessDeniedException`;
 * - EventBridge `PutEvents`: 400 `AccessDeniedException` (JSON 1.1) when any entry's bus is denied;
 * - STS (query protocol): 403 `AccessDenied` in an XML `<ErrorResponse>` (an unknown key
 *   403 `InvalidClientTokenId`, no signature 403 `MissingAuthenticationToken`);
 * - an unknown access key id: `UnrecognizedClientException` (400; Lambda 403).
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
 */
import { randomUUID } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IamAuthority, IamDecision } from './iam-authority.ts';
import { requestQuestions, type IamService, type ResourceLookups } from './iam-requests.ts';

/** Options of {@link startIamGateway}. */
export interface IamGatewayOptions {
  readonly service: IamService;
  /** The backend, e.g. `http://127.0.0.1:4566`. */
  readonly upstream: string;
  readonly authority: IamAuthority;
  readonly lookups?: ResourceLookups;
}

/** A running gateway. */
export interface IamGateway {
  /** `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL_<SERVICE>`. */
  readonly endpoint: string;
  close(): Promise<void>;
}

interface Denial {
  readonly status: number;
  readonly type: string;
  readonly message: string;
}

const CONTENT_TYPES: Readonly<Record<IamService, string>> = {
  secretsmanager: 'application/x-amz-json-1.1',
  kms: 'application/x-amz-json-1.1',
  dynamodb: 'application/x-amz-json-1.0',
  lambda: 'application/json',
  sts: 'text/xml',
  events: 'application/x-amz-json-1.1',
};

/** Status and code of a denial in the query protocol (STS), by the JSON protocols' type. */
const QUERY_DENIALS: Readonly<Record<string, { readonly status: number; readonly code: string }>> = {
  AccessDeniedException: { status: 403, code: 'AccessDenied' },
  UnrecognizedClientException: { status: 403, code: 'InvalidClientTokenId' },
  MissingAuthenticationTokenException: { status: 403, code: 'MissingAuthenticationToken' },
  ValidationException: { status: 400, code: 'ValidationError' },
};

const escapeXml = (text: string): string => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A denial as the query protocol answers it: `<ErrorResponse><Error><Type>Sender</Type>…`. */
function answerQuery(res: ServerResponse, denial: Denial): void {
  const { status, code } = QUERY_DENIALS[denial.type] ?? { status: denial.status, code: denial.type };
  const requestId = randomUUID();
  const body =
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>` +
    `<Code>${code}</Code><Message>${escapeXml(denial.message)}</Message></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`;
  res.writeHead(status, {
    'content-type': CONTENT_TYPES.sts,
    'x-amzn-requestid': requestId,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The access key id of a SigV4 `Authorization` header, or undefined. */
export function accessKeyIdOf(authorization: string | undefined): string | undefined {
  return /\bCredential=([^/,\s]+)\//.exec(authorization ?? '')?.[1];
}

/** The message IAM gives a denied caller. */
export function deniedMessage(decision: IamDecision): string {
  const why =
    decision.result === 'ExplicitlyDenied'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${decision.action} action`;
  return `User: ${decision.principal ?? 'unknown'} is not authorized to perform: ${decision.action} on resource: ${decision.resource} ${why}`;
}

function answer(res: ServerResponse, service: IamService, denial: Denial): void {
  if (service === 'sts') return answerQuery(res, denial);
  const type = service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${denial.type}` : denial.type;
  const field = service === 'kms' ? 'message' : 'Message';
  const body = JSON.stringify(
    service === 'lambda'
      ? { Type: 'User', Message: denial.message }
      : { __type: type, [field]: denial.message },
  );
  res.writeHead(denial.status, {
    'content-type': CONTENT_TYPES[service],
    'x-amzn-requestid': randomUUID(),
    ...(service === 'dynamodb' ? {} : { 'x-amzn-errortype': denial.type }),
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function forward(upstream: URL, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const out = httpRequest(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (back) => {
      res.writeHead(back.statusCode ?? 502, back.headers);
      back.pipe(res);
    },
  );
  out.once('error', () => res.destroy());
  out.end(body);
}

/** The denial for a request, or undefined when IAM allows every part of it. */
async function authorize(
  options: IamGatewayOptions,
  req: IncomingMessage,
  body: Buffer,
): Promise<Denial | undefined> {
  const { service, authority } = options;
  const lambda = service === 'lambda';
  const accessKeyId = accessKeyIdOf(req.headers['authorization']);
  if (accessKeyId === undefined)
    return {
      status: lambda ? 403 : 400,
      type: 'MissingAuthenticationTokenException',
      message: 'Missing Authentication Token',
    };
  const asked = requestQuestions(
    service,
    {
      method: req.method ?? 'GET',
      path: new URL(req.url ?? '/', 'http://127.0.0.1').pathname,
      target: req.headers['x-amz-target'] as string | undefined,
      body: body.toString('utf8'),
    },
    authority.place,
    options.lookups ?? {},
  );
  for (const question of asked.questions) {
    const decision = await authority.decide(accessKeyId, question);
    if (decision.result === 'UnknownAccessKey')
      return {
        status: lambda ? 403 : 400,
        type: 'UnrecognizedClientException',
        message: 'The security token included in the request is invalid.',
      };
    if (!decision.allowed)
      return { status: lambda ? 403 : 400, type: 'AccessDeniedException', message: deniedMessage(decision) };
  }
  if (asked.decrypt !== undefined && !(await authority.decide(accessKeyId, asked.decrypt)).allowed)
    return { status: 400, type: 'AccessDeniedException', message: 'Access to KMS is not allowed' };
  return undefined;
}

/** Starts a gateway for `options.service` on 127.0.0.1, port 0. */
export async function startIamGateway(options: IamGatewayOptions): Promise<IamGateway> {
  const upstream = new URL(options.upstream);
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      let denial: Denial | undefined;
      try {
        denial = await authorize(options, req, body);
      } catch (error) {
        // A request the mapping does not know: loud, never forwarded unchecked.
        denial = { status: 400, type: 'ValidationException', message: `IAM gateway: ${String(error)}` };
      }
      if (denial === undefined) forward(upstream, req, body, res);
      else answer(res, options.service, denial);
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closed: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
