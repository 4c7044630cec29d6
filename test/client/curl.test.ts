import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBroker, tokenBody, type FakeBroker } from './fake-broker.ts';
import { ACCESS_KEY_ID, CALLER_ARN, REGION, SECRET_ACCESS_KEY } from './sigv4-fixtures.ts';

const run = promisify(execFile);

async function curlSigV4(): Promise<boolean> {
  try {
    const { stdout } = await run('curl', ['--help', 'all'], { timeout: 5_000 });
    return stdout.includes('--aws-sigv4');
  } catch {
    return false;
  }
}
const haveCurl = await curlSigV4();

let broker: FakeBroker;
beforeAll(async () => {
  // curl signs with the real time, so the verifier uses it too.
  broker = await startFakeBroker(Date.now);
  broker.answer = () => ({ status: 200, json: tokenBody('curl-token', 300, Date.now()) });
});
afterAll(async () => {
  await broker.close();
});

/** The curl line of docs/client.md, with the test credentials in the environment it reads. */
async function readmeCurl(secret: string): Promise<unknown> {
  const { stdout } = await run(
    'sh',
    [
      '-c',
      `curl -sS --aws-sigv4 "aws:amz:${REGION}:execute-api" \\
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \\
        -H "x-amz-security-token: $AWS_SESSION_TOKEN" \\
        -H 'content-type: application/json' \\
        -d '{"profile":"docusign","subject":"jsmith@example.com"}' \\
        "$BROKER/token"`,
    ],
    {
      timeout: 10_000,
      env: {
        PATH: process.env['PATH'],
        AWS_ACCESS_KEY_ID: ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_SESSION_TOKEN: 'session-token-value',
        BROKER: broker.endpoint,
      },
    },
  );
  return JSON.parse(stdout);
}

describe.skipIf(!haveCurl)('the docs/client.md curl example (curl --aws-sigv4)', () => {
  it('is accepted by the SigV4 verifier with the right secret', async () => {
    await expect(readmeCurl(SECRET_ACCESS_KEY)).resolves.toMatchObject({
      access_token: 'curl-token',
      token_type: 'Bearer',
    });
    expect(broker.requests.at(-1)).toEqual({
      body: { profile: 'docusign', subject: 'jsmith@example.com' },
      caller: { id: CALLER_ARN, kind: 'iam' },
    });
  });

  it('is refused with forbidden when the secret is wrong', async () => {
    await expect(readmeCurl('wrong-secret')).resolves.toEqual({
      error: 'forbidden',
      message:
        'SigV4 authentication failed: signature does not match; check the secret access key and that the request was not altered',
    });
  });
});
