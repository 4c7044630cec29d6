/**
 * Brokers on one DynamoDB table (dynalite) that must keep apart what differs and share
 * what is the same: tokens of other token endpoints are never served, and a
 * `consent_required` answer is asked once for the fleet.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../lib/broker/index.ts';
import { createDynamoDbStore } from '../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../lib/cache/ensure-table.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';
import { ConsentRequired } from '../lib/errors.ts';
import type { Caller } from '../lib/types.ts';
import { configFrom, fileSecrets, profileYaml } from './support/broker-env.ts';
import { startDynalite, type Dynalite } from './support/dynalite.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';
import { randomSealKey } from './support/shared-cache-fixtures.ts';

const KEY_FILE = join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem');
const AUDIENCE = 'token-broker-shared-table';
const CALLER: Caller = { id: 'arn:aws:iam::123456789012:role/billing-api', kind: 'iam' };

let dynamo: Dynalite;
let first: AuthorizationServer;
let second: AuthorizationServer;
let table = 0;
const sealKey = randomSealKey();

beforeAll(async () => {
  const certificatePem = await readFile(`${KEY_FILE}.cert.pem`, 'utf8');
  const clients = [
    { clientId: 'app', certificatePem },
    { clientId: 'consent-app', certificatePem, requireConsent: true },
  ];
  dynamo = await startDynalite();
  first = await startAuthorizationServer({ clients, audience: [AUDIENCE] });
  second = await startAuthorizationServer({ clients, audience: [AUDIENCE] });
});
afterAll(async () => {
  await Promise.all([first.close(), second.close()]);
  await dynamo.close();
});

/** A new table per test; brokers made with the same `tableName` share it. */
async function freshTable(): Promise<string> {
  table += 1;
  const name = `shared-${table}`;
  await ensureTable(dynamo.client(), name);
  return name;
}

function brokerOn(tableName: string, tokenUrl: string, issuer = 'app') {
  const config = configFrom(
    profileYaml('demo', {
      issuer,
      subject: 'alice@example.com',
      tokenUri: `POST ${tokenUrl}`,
      audience: AUDIENCE,
      scope: 'read',
      certStore: `file:${KEY_FILE}`,
      callers: [CALLER.id],
      consentErrors: [{ error: 'consent_required' }],
    }),
  );
  const sharedStore = createDynamoDbStore({ client: dynamo.client(), table: tableName, sealKey });
  return createBroker({
    config,
    secrets: fileSecrets(),
    sharedStore,
    consentUrl: (profile, subject) => `https://broker.example.com/consent/${profile}?subject=${subject}`,
  });
}

describe('brokers sharing one table', () => {
  it('never serve each other the tokens of another token endpoint (same profile name and claims)', async () => {
    const tableName = await freshTable();
    first.resetRequests();
    second.resetRequests();
    const one = brokerOn(tableName, first.tokenUrl);
    const other = brokerOn(tableName, second.tokenUrl);

    const fromFirst = await one.issue({ profile: 'demo', caller: CALLER });
    const fromSecond = await other.issue({ profile: 'demo', caller: CALLER });

    expect(fromSecond.cached).toBe(false);
    expect(fromSecond.access_token).not.toBe(fromFirst.access_token);
    expect(first.introspect(fromFirst.access_token)).toMatchObject({ clientId: 'app' });
    expect(second.introspect(fromSecond.access_token)).toMatchObject({ clientId: 'app' });
    expect(first.introspect(fromSecond.access_token)).toBeUndefined();
    // A third broker of each configuration finds its own token in the table.
    const again = [
      await brokerOn(tableName, first.tokenUrl).issue({ profile: 'demo', caller: CALLER }),
      await brokerOn(tableName, second.tokenUrl).issue({ profile: 'demo', caller: CALLER }),
    ];
    expect(again.map((token) => [token.access_token, token.cached])).toEqual([
      [fromFirst.access_token, true],
      [fromSecond.access_token, true],
    ]);
    expect([first.requestCount(), second.requestCount()]).toEqual([1, 1]);
  });

  it('ask the provider once for 10 requests over two instances when consent is missing', async () => {
    const tableName = await freshTable();
    first.resetRequests();
    const instances = [
      brokerOn(tableName, first.tokenUrl, 'consent-app'),
      brokerOn(tableName, first.tokenUrl, 'consent-app'),
    ];

    const answers: unknown[] = [];
    for (let i = 0; i < 10; i++)
      answers.push(
        await instances[i % 2]!.issue({ profile: 'demo', caller: CALLER }).catch((err: unknown) => err),
      );

    expect(first.requestCount()).toBe(1);
    for (const answer of answers) {
      expect(answer).toBeInstanceOf(ConsentRequired);
      expect(answer).toMatchObject({
        code: 'ERR_CONSENT_REQUIRED',
        message: `profile "demo" needs the user's consent for subject "alice@example.com"; open the consent URL once, then retry`,
        consentUrl: 'https://broker.example.com/consent/demo?subject=alice@example.com',
      });
    }
  });
});
