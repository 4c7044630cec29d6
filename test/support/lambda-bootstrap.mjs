// A Lambda runtime client for tests: what the Node.js managed runtime does for a function,
// in plain JavaScript, against the Runtime API named by AWS_LAMBDA_RUNTIME_API. It imports
// `${LAMBDA_TASK_ROOT}/<file>.mjs` for `_HANDLER=<file>.<export>`, then loops: next
// invocation, call the handler with (event, context), post the response or the error.
// Every request names this process's Node.js in its User-Agent (as the managed runtime's
// client does, `aws-lambda-nodejs/<version>`), so the test's Runtime API sees the version
// the function really ran on.
// See https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { existsSync } from 'node:fs';

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const handlerName = process.env._HANDLER ?? '';
const dot = handlerName.lastIndexOf('.');
const file = handlerName.slice(0, dot);
const exported = handlerName.slice(dot + 1);
const userAgent = { 'user-agent': `aws-lambda-nodejs/${process.version} token-broker-test-bootstrap` };

async function post(path, body, headers = {}) {
  await fetch(`${api}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { ...userAgent, ...headers },
  });
}
const errorBody = (error) => ({
  errorType: error?.name ?? 'Error',
  errorMessage: String(error?.message ?? error),
  stackTrace: String(error?.stack ?? '')
    .split('\n')
    .slice(1),
});

let handler;
try {
  // TB_TEST_HANDLER_ROOT: where the artifact really is, when a test shows the function another LAMBDA_TASK_ROOT.
  const base = join(process.env.TB_TEST_HANDLER_ROOT ?? process.env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
  const path = ['.mjs', '.js', '.cjs'].map((ext) => base + ext).find((p) => existsSync(p));
  if (path === undefined) throw new Error(`Cannot find module '${file}'`);
  handler = (await import(pathToFileURL(path).href))[exported];
  if (typeof handler !== 'function') throw new Error(`${handlerName} is undefined or not exported`);
} catch (error) {
  await post('/init/error', errorBody(error), {
    'Lambda-Runtime-Function-Error-Type': 'Runtime.ImportModuleError',
  });
  process.exit(1);
}

for (;;) {
  const next = await fetch(`${api}/invocation/next`, { headers: userAgent });
  const id = next.headers.get('lambda-runtime-aws-request-id');
  const deadline = Number(next.headers.get('lambda-runtime-deadline-ms'));
  const event = await next.json();
  process.env._X_AMZN_TRACE_ID = next.headers.get('lambda-runtime-trace-id') ?? '';
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: next.headers.get('lambda-runtime-invoked-function-arn'),
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: id,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  try {
    const result = await handler(event, context);
    await post(`/invocation/${id}/response`, result ?? null);
  } catch (error) {
    await post(`/invocation/${id}/error`, errorBody(error), {
      'Lambda-Runtime-Function-Error-Type': 'Unhandled',
    });
  }
}
