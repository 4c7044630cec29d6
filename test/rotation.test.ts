/**
 * Key rotation as docs/configuration.md lays it out ("Key rotation"): keystore and password in two
 * Secrets Manager secrets, updated minutes apart, read through the real SDK client on a
 * loopback Secrets Manager, with a fake clock for the broker, the secrets cache and the
 * provider. Callers every 10 s for 15 minutes must never fail.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBroker } from '../lib/broker/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';
import { isBrokerError } from '../lib/errors.ts';
import { createSecretResolver, SECRET_CACHE_MAX_AGE_MS } from '../lib/secrets/index.ts';
import type { Caller } from '../lib/types.ts';
import { configFrom, profileYaml } from './support/broker-env.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';
import {
  secretsManagerClient,
  startSecretsManager,
  type SecretsManagerServer,
} from './support/secrets-manager-server.ts';
import { manualClock, recordingLogger } from './support/shared-cache-fixtures.ts';

// Two real PKCS#12 keystores with different keys and passwords (make-pkcs12.sh).
const OLD = { file: 'p12-openssl-rsa2048.p12', password: 'changeit' };
const NEW = { file: 'p12-keytool-spaces.p12', password: 'store pass with spaces' };
const CALLER: Caller = { id: 'arn:aws:iam::123456789012:role/billing-api', kind: 'iam' };
/** Provider tokens live a minute, so the 15 minutes hold ~15 upstream requests (misses). */
const TOKEN_TTL_S = 60;

let sm: SecretsManagerServer;
/** VersionIds the fake Secrets Manager gave the keystore's versions. */
const versions: { keystore1?: string; keystore2?: string } = {};
const clients: ReturnType<typeof secretsManagerClient>[] = [];
let provider: AuthorizationServer;
const clock = manualClock(Date.UTC(2026, 0, 5, 9, 0, 0));

const bytesOf = (file: string) => readFile(join(KEYSTORE_FIXTURES, file));
const certOf = (file: string) => readFile(join(KEYSTORE_FIXTURES, `${file}.signer.cert.pem`), 'utf8');

beforeEach(async () => {
  sm = await startSecretsManager();
  versions.keystore1 = sm.put('prod/keystore', { binary: await bytesOf(OLD.file) });
  sm.put('prod/keystore-password', { text: OLD.password });
  provider = await startAuthorizationServer({
    clients: [{ clientId: 'rot-app', certificatePem: await certOf(OLD.file) }],
    audience: ['token-broker-rotation'],
    tokenTtl: TOKEN_TTL_S,
    clock: clock.now,
  });
});
afterEach(async () => {
  await provider.close();
  for (const client of clients.splice(0)) client.destroy();
  await sm.close();
});

function rotatingBroker(extra: Record<string, unknown> = {}) {
  const logger = recordingLogger();
  const config = configFrom(
    profileYaml('rot', {
      ...extra,
      issuer: 'rot-app',
      subject: 'alice@example.com',
      tokenUri: `POST ${provider.tokenUrl}`,
      audience: 'token-broker-rotation',
      certStore: 'secretsmanager:prod/keystore',
      certStoreType: 'pkcs12',
      certPassword: 'secretsmanager:prod/keystore-password',
      callers: [CALLER.id],
    }),
    'cache:\n  refreshMargin: 0\n',
  );
  const secrets = createSecretResolver({
    secretsManager: () => {
      const client = secretsManagerClient(sm.endpoint);
      clients.push(client);
      return client;
    },
    env: {},
    cwd: '/',
    clock: clock.now,
  });
  return { broker: createBroker({ config, secrets, logger, clock: clock.now }), logger };
}

/** Calls every 10 s from t to t+15 min; `at(second)` runs first at each step. */
async function runTimeline(
  broker: ReturnType<typeof rotatingBroker>['broker'],
  at: (second: number) => Promise<void>,
) {
  const failures: string[] = [];
  const misses: number[] = [];
  for (let second = 0; second <= 15 * 60; second += 10) {
    if (second > 0) clock.advance(10_000);
    await at(second);
    try {
      const issued = await broker.issue({ profile: 'rot', caller: CALLER, minTtl: 0 });
      if (!issued.cached) misses.push(second);
    } catch (err) {
      failures.push(`${second}s: ${isBrokerError(err) ? err.code : String(err)}`);
    }
  }
  return { failures, misses };
}

describe('key rotation through Secrets Manager', () => {
  it('keeps serving while the keystore changes at t+1 min and its password at t+6:30, then uses the new key', async () => {
    const { broker, logger } = rotatingBroker();
    const newBytes = await bytesOf(NEW.file);
    const newCert = await certOf(NEW.file);

    const { failures, misses } = await runTimeline(broker, async (second) => {
      if (second === 60) versions.keystore2 = sm.put('prod/keystore', { binary: newBytes });
      if (second === 390) {
        sm.put('prod/keystore-password', { text: NEW.password });
        // The provider now knows only the new certificate: a token signed by the old key would fail.
        provider.setClient({ clientId: 'rot-app', certificatePem: newCert });
      }
    });

    expect(failures).toEqual([]);
    const newKeyFrom = misses.find((second) => second >= 390);
    expect(newKeyFrom).toBeDefined();
    expect((newKeyFrom! - 390) * 1000).toBeLessThanOrEqual(SECRET_CACHE_MAX_AGE_MS);
    expect(provider.requests.filter((request) => request.status !== 200)).toEqual([]);
    // Between the keystore being read (t+5 min, when the cache expired) and the password change,
    // each miss tried the new version, was refused its password, and kept the old key.
    const refused = logger.lines
      .filter(
        (line) =>
          line.message ===
          'a new version of the key material does not open; the previous version keeps signing',
      )
      .map((line) => line.fields);
    expect(refused.length).toBeGreaterThan(0);
    for (const fields of refused)
      expect(fields).toMatchObject({
        profile: 'rot',
        code: 'ERR_KEYSTORE_PASSWORD',
        reference: 'secretsmanager:prod/keystore',
        version: versions.keystore2,
        inUse: versions.keystore1,
      });
    expect(logger.lines.map((line) => line.message)).toContain(
      'key material rotated: the new version is in use',
    );
    expect(JSON.stringify(logger.lines)).not.toContain(NEW.password);
  }, 60_000);

  it('keeps the old key when the new keystore is corrupt, logging once per miss', async () => {
    const { broker, logger } = rotatingBroker();

    const { failures, misses } = await runTimeline(broker, async (second) => {
      if (second === 60) versions.keystore2 = sm.put('prod/keystore', { binary: randomBytes(2048) });
    });

    expect(failures).toEqual([]);
    const refused = logger.lines.filter(
      (line) =>
        line.message ===
        'a new version of the key material does not open; the previous version keeps signing',
    );
    // Every miss once the cached keystore expired (t+5 min) tried the new version once.
    const missesAfterExpiry = misses.filter((second) => second * 1000 >= SECRET_CACHE_MAX_AGE_MS);
    expect(refused.length).toBe(missesAfterExpiry.length);
    expect(refused.length).toBeGreaterThan(5);
    expect(refused[0]!.fields).toMatchObject({
      code: expect.stringMatching(/^ERR_KEYSTORE_/),
      version: versions.keystore2,
    });
    expect(provider.requests.every((request) => request.status === 200)).toBe(true);
  }, 60_000);

  it('with rotation.tryPending, signs once with the AWSPENDING keystore when the provider refuses the current key', async () => {
    sm.put('prod/keystore', { binary: await bytesOf(NEW.file) }, ['AWSPENDING']);
    sm.put('prod/keystore-password', { text: NEW.password }, ['AWSPENDING']);
    provider.setClient({ clientId: 'rot-app', certificatePem: await certOf(NEW.file) });
    const plain = rotatingBroker();
    const trying = rotatingBroker({ rotation: { tryPending: true } });

    const refused = await plain.broker.issue({ profile: 'rot', caller: CALLER }).catch((err: unknown) => err);
    expect(refused).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', error: 'invalid_grant' });
    provider.resetRequests();
    const issued = await trying.broker.issue({ profile: 'rot', caller: CALLER });

    expect(issued.cached).toBe(false);
    expect(provider.requests.map((request) => request.error ?? request.status)).toEqual([
      'invalid_grant',
      200,
    ]);
    expect(trying.logger.warnings().map((line) => line.message)).toEqual([
      'the token endpoint refused the key; opening the key material afresh once',
      'trying the AWSPENDING version of the key material once',
    ]);
    expect(
      sm.calls
        .filter((request) => request.body['VersionStage'] === 'AWSPENDING')
        .map((r) => r.body['SecretId']),
    ).toEqual(expect.arrayContaining(['prod/keystore', 'prod/keystore-password']));
  });
});
