/**
 * Nothing runs after a Lambda handler settles. The packaged token function runs as Lambda
 * runs it: its process is stopped (SIGSTOP) between invocations. A hit on a stale token
 * answers without leaving a refresh behind: no lease is held across the freeze, a second
 * instance on the same table obtains the next token without waiting on the frozen one, and
 * the frozen one, continued after a whole lease length, neither calls the provider again
 * nor overwrites the newer token.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pointAtStandIn } from '../rehearsal/rehearse-plan.ts';
import { DEFAULT_LEASE_MS } from '../../lib/cache/shared-flight.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { apiEvent } from '../functions/events.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import type { Container, InvocationResult } from '../support/lambda-runtime.ts';
import {
  FUNCTIONS,
  packageService,
  ROOT,
  type FunctionName,
  type PackagedService,
} from '../support/osls-package.ts';
import { startPackagedStack, type PackagedStack } from '../support/packaged-stack.ts';

const PROFILES = 'test/fixtures/deploy/rehearse-profiles.yaml';
const CALLER = 'arn:aws:sts::123456789012:assumed-role/billing-app/session';
/** Token life: long enough to outlive a lease length, short enough to go stale in the test. */
const TOKEN_TTL_S = 24;
/** The provider's own latency, so a refresh started after an answer is still in flight at the freeze. */
const LATENCY_MS = 500;

const ask = (c: Container, minTtl: number, profile = 'outside') =>
  c.invoke(apiEvent({ body: JSON.stringify({ profile, minTtl }), userArn: CALLER }));
function tokenOf(result: InvocationResult): string {
  if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
  const answer = result.payload as { statusCode: number; body: string };
  expect(answer.statusCode, answer.body).toBe(200);
  return String((JSON.parse(answer.body) as { access_token: string }).access_token);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function untilFrozen(c: Container): Promise<void> {
  for (let i = 0; i < 200 && !c.frozen(); i++) await sleep(10);
  expect(c.frozen()).toBe(true);
}

const TITLE = 'the packaged token function, frozen between invocations';

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    let packaged: PackagedService;
    let stack: PackagedStack;
    let auth: AuthorizationServer;
    let dynamo: DynamoDBClient;

    beforeAll(async () => {
      packaged = await packageService(PROFILES, 'ci');
      expect(packaged.code, packaged.output).toBe(0);
      stack = await startPackagedStack({
        packaged,
        stackName: 'token-broker-ci',
      });
      dynamo = new DynamoDBClient({
        endpoint: stack.dynamoDbEndpoint,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
      });
      const p12 = readFileSync(join(KEYSTORE_FIXTURES, 'p12-keytool-rsa2048.p12'));
      stack.secrets.put('security-team/docusign/keystore', { binary: p12 });
      stack.secrets.put('security-team/docusign/keystore-password', { text: 'changeit' });
      stack.secrets.put('token-broker/ci/cache-key', { text: randomBytes(32).toString('base64') });
      auth = await startAuthorizationServer({
        clients: [
          {
            clientId: 'rehearse-outside',
            certificatePem: readFileSync(
              join(KEYSTORE_FIXTURES, 'p12-keytool-rsa2048.p12.signer.cert.pem'),
              'utf8',
            ),
          },
        ],
        audience: ['https://login.example.com/oauth/token'],
        tokenTtl: TOKEN_TTL_S,
        latencyMs: LATENCY_MS,
      });
      const text = readFileSync(join(ROOT, PROFILES), 'utf8');
      const pointed = pointAtStandIn(text, parseConfig(text, join(ROOT, PROFILES)), auth);
      for (const name of Object.keys(FUNCTIONS) as FunctionName[])
        writeFileSync(join(packaged.unpack(name), PROFILES), pointed);
    }, 180_000);

    afterAll(async () => {
      dynamo?.destroy();
      await auth?.close();
      await stack?.close();
      packaged?.remove();
    });

    const leases = async () =>
      ((await dynamo.send(new ScanCommand({ TableName: stack.table }))).Items ?? []).filter(
        (item) => item['lease'] !== undefined,
      ).length;

    it('leaves no refresh or lease behind a stale hit; the other instance and the thawed one stay correct', async () => {
      const first = await stack.container('token');
      const t1 = tokenOf(await ask(first, 1));
      expect(auth.requestCount()).toBe(1);
      await untilFrozen(first);
      // The token enters its refresh margin (half its life here), still usable for minTtl 1.
      const obtained = auth.introspect(t1)!.expiresAt - TOKEN_TTL_S * 1000;
      await sleep(Math.max(0, obtained + (TOKEN_TTL_S * 1000) / 2 + 250 - Date.now()));

      expect(tokenOf(await ask(first, 1))).toBe(t1);
      const answeredAt = Date.now();
      await untilFrozen(first);
      // Every AWS call the first instance makes passes the IAM gateway under its own key.
      const awsCalls = () =>
        stack.iam.authority.decisions.filter((d) => d.accessKeyId === first.accessKeyId).length;
      const callsAtFreeze = awsCalls();
      // Frozen with nothing in flight: no provider call and no lease taken for a refresh.
      expect(auth.requestCount()).toBe(1);
      expect(await leases()).toBe(0);

      // Another instance needs more than t1 has left: it obtains the next token itself.
      const second = await stack.container('token');
      const t2 = tokenOf(await ask(second, TOKEN_TTL_S - 4));
      expect(t2).not.toBe(t1);
      expect(auth.requestCount()).toBe(2);

      // The frozen instance is continued a whole lease length later (an unknown profile: no token work).
      await sleep(Math.max(0, answeredAt + DEFAULT_LEASE_MS + 250 - Date.now()));
      const thawed = await ask(first, 1, 'no-such-profile');
      expect(thawed.ok && (thawed.payload as { statusCode: number }).statusCode).toBe(404);
      await untilFrozen(first);
      // Nothing left over resumed: no table call, no secret, no provider call.
      expect(awsCalls()).toBe(callsAtFreeze);
      expect(auth.requestCount()).toBe(2);
      // The table still holds t2: a new instance is served it without asking the provider.
      expect(tokenOf(await ask(await stack.container('token'), 1))).toBe(t2);
      expect(auth.requestCount()).toBe(2);
      expect(await leases()).toBe(0);
    }, 120_000);

    it('replaces a token a caller reports refused from an instance that never held it, under its role', async () => {
      const holder = await stack.container('token');
      const held = tokenOf(await ask(holder, 1));
      const upstream = auth.requestCount();
      const fingerprint = createHash('sha256').update(held).digest('hex').slice(0, 8);
      const other = await stack.container('token');
      const report = await other.invoke(
        apiEvent({ body: JSON.stringify({ profile: 'outside', rejected: fingerprint }), userArn: CALLER }),
      );
      const replaced = tokenOf(report);
      expect(replaced).not.toBe(held);
      expect(auth.requestCount()).toBe(upstream + 1);
      // The claim on the shared entry (a conditional write) is one the token role may make.
      const refused = stack.iam.authority.decisions.filter(
        (d) => d.accessKeyId === other.accessKeyId && !d.allowed,
      );
      expect(refused).toEqual([]);
      expect(await leases()).toBe(0);
    }, 60_000);
  });
