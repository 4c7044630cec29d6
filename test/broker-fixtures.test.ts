import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../lib/broker/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';
import { configFrom, fileSecrets, profileYaml } from './support/broker-env.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';
import { manifestRows } from './support/keystore-manifests.ts';

// Read at run time, so fixtures added later (other formats) are covered without edits here.
const entries = manifestRows().filter((entry) => entry.expectError === undefined && entry.cert !== undefined);

const CALLER = { id: 'fixture-runner', kind: 'api-key' } as const;
let server: AuthorizationServer;

beforeAll(async () => {
  server = await startAuthorizationServer({
    clients: entries.map((entry, i) => ({
      clientId: `client-${i}`,
      // Verified with the certificate exported by openssl/keytool, not the key the broker opened.
      certificatePem: readFileSync(join(KEYSTORE_FIXTURES, entry.cert!), 'utf8'),
      subjects: ['fixture-user'],
    })),
  });
});
afterAll(() => server.close());

describe('a token for every keystore fixture', () => {
  it('finds fixtures to run', () => {
    expect(entries.length).toBeGreaterThan(10);
  });

  it.each(
    entries.map(
      (entry, i) =>
        [`${entry.manifest} ${entry.file} ${entry.alias ?? ''} (${entry.keyType})`, entry, i] as const,
    ),
  )('%s', async (_name, entry, i) => {
    const env: Record<string, string> = {};
    // An empty password is written as no password reference (an empty variable counts as unset).
    const password = entry.password === '' ? undefined : entry.password;
    const keyPassword = entry.keyPassword === '' ? undefined : entry.keyPassword;
    if (password !== undefined) env['FIXTURE_PASSWORD'] = password;
    if (keyPassword !== undefined) env['FIXTURE_KEY_PASSWORD'] = keyPassword;
    const config = configFrom(
      profileYaml('fixture', {
        issuer: `client-${i}`,
        subject: 'fixture-user',
        tokenUri: `POST ${server.tokenUrl}`,
        certStore: `file:${join(KEYSTORE_FIXTURES, entry.file)}`,
        certStoreType: entry.type,
        certPassword: password !== undefined ? 'env:FIXTURE_PASSWORD' : undefined,
        keyPassword: keyPassword !== undefined ? 'env:FIXTURE_KEY_PASSWORD' : undefined,
        certAlias: entry.alias,
        certificate: entry.certBeside ? `file:${join(KEYSTORE_FIXTURES, entry.certBeside)}` : undefined,
        callers: [CALLER.id],
      }),
    );
    const broker = createBroker({ config, secrets: fileSecrets(env) });
    const token = await broker.issue({ profile: 'fixture', caller: CALLER });
    expect(server.introspect(token.access_token)).toMatchObject({
      clientId: `client-${i}`,
      subject: 'fixture-user',
    });
  });
});
