/**
 * A loopback server speaking the Lambda Invoke REST API
 * (`POST /2015-03-31/functions/{FunctionName}/invocations`), for tests that invoke with the
 * real SDK client: it records each invocation and answers 202 (`Event`) or 200
 * (`RequestResponse`), or an error the test scripts, as Lambda does.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One invocation as the server saw it. */
export interface SeenInvocation {
  readonly functionName: string;
  readonly invocationType: string;
  readonly payload: unknown;
  readonly signed: boolean;
}

/** What the server answers an invocation with; default the success Lambda gives. */
export type InvokeAnswer =
  'ok' | { readonly status: number; readonly type: string; readonly message: string };

export interface LambdaInvokeServer {
  readonly endpoint: string;
  readonly invocations: readonly SeenInvocation[];
  /** Scripts the answer of the next invocations (by order); afterwards 'ok'. */
  answerNext(...answers: InvokeAnswer[]): void;
  close(): Promise<void>;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

function fail(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ Type: 'User', message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-amzn-errortype': type,
    'x-amzn-requestid': 'loopback',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export async function startLambdaInvokeServer(): Promise<LambdaInvokeServer> {
  const invocations: SeenInvocation[] = [];
  const script: InvokeAnswer[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const match = PATH.exec(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      if (req.method !== 'POST' || !match) {
        fail(res, 404, 'ResourceNotFoundException', 'no such route');
        return;
      }
      const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      const text = Buffer.concat(chunks).toString('utf8');
      let payload: unknown;
      try {
        payload = text === '' ? undefined : JSON.parse(text);
      } catch {
        fail(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
        return;
      }
      invocations.push({
        functionName: decodeURIComponent(match[1]!),
        invocationType,
        payload,
        signed: String(req.headers['authorization'] ?? '').startsWith('AWS4-HMAC-SHA256 '),
      });
      const answer = script.shift() ?? 'ok';
      if (answer !== 'ok') {
        fail(res, answer.status, answer.type, answer.message);
        return;
      }
      res.writeHead(invocationType === 'Event' ? 202 : 200, {
        'x-amzn-requestid': 'loopback',
        'x-amz-executed-version': '$LATEST',
        'content-length': 0,
      });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    invocations,
    answerNext: (...answers) => void script.push(...answers),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
