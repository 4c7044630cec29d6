import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealthHandler } from '../../functions/health.ts';
import {
  DEEP_CHECK_FAILED_MAX_AGE_MS,
  DEEP_CHECK_MAX_AGE_MS,
  DeepHealthCheck,
  deepHealth,
} from '../../lib/health/deep.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import type { OpenKeystore } from '../../lib/keystore/types.ts';
import { createSecretResolver, SECRET_CACHE_MAX_AGE_MS } from '../../lib/secrets/index.ts';
import { silentLogger } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { localKms } from '../support/kms-client.ts';
import { startKmsServer, type KmsServer } from '../support/kms-server.ts';
import { secretsManagerClient, startSecretsManager } from '../support/secrets-manager-server.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
let kms: KmsServer;
beforeAll(async () => {
  kms = await startKmsServer();
});
afterAll(() => kms.close());

function config() {
  const enabled = kms.createKey('ECC_NIST_P256', `alias/enabled-${Math.random()}`.replace('0.', ''));
  const disabled = kms.createKey('ECC_NIST_P256');
  disabled.state = 'Disabled';
  const denied = kms.createKey('ECC_NIST_P256');
  denied.denied = true;
  const base = {
    issuer: 'app',
    subject: 'alice@example.com',
    tokenUri: 'POST https://login.example.com/token',
  };
  return configFrom(
    profileYaml('pem', {
      ...base,
      certStore: `file:${join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem')}`,
    }) +
      profileYaml('missing', { ...base, certStore: `file:${join(KEYSTORE_FIXTURES, 'no-such-file.pem')}` }) +
      profileYaml('kms-ok', { ...base, certStore: `kms:${enabled.arn}` }) +
      profileYaml('kms-disabled', { ...base, certStore: `kms:${disabled.keyId}` }) +
      profileYaml('kms-denied', { ...base, certStore: `kms:${denied.keyId}` }),
  );
}

describe('GET /health?deep=1', () => {
  it('opens key material and describes KMS keys per profile, reporting codes only, without Sign', async () => {
    const before = kms.calls['Sign'] ?? 0;
    const result = await deepHealth(config(), { secrets: fileSecrets(), kms: localKms(kms.url) });
    expect(result).toEqual({
      status: 'degraded',
      checks: {
        'kms-denied': { ok: false, code: 'ERR_KMS_ACCESS_DENIED' },
        'kms-disabled': { ok: false, code: 'ERR_KMS_KEY_STATE' },
        'kms-ok': { ok: true },
        missing: { ok: false, code: 'ERR_SECRET_REFERENCE' },
        pem: { ok: true },
      },
    });
    expect(kms.calls['Sign'] ?? 0).toBe(before);
  });

  it('answers 503 degraded with the checks, and the plain answer without deep=1', async () => {
    const cfg = config();
    const handler = createHealthHandler({
      profiles: async () => Object.keys(cfg.profiles),
      logger: silentLogger,
      deep: () => deepHealth(cfg, { secrets: fileSecrets(), kms: localKms(kms.url) }),
    });
    const event = apiEvent({ routeKey: 'GET /health', userArn: ALICE });
    const deep = await handler({ ...event, queryStringParameters: { deep: '1' } }, lambdaContext());
    expect(deep.statusCode).toBe(503);
    const body = JSON.parse(deep.body);
    expect(body.status).toBe('degraded');
    expect(body.checks['pem']).toEqual({ ok: true });
    expect(deep.body).not.toContain('no-such-file');
    const plain = await handler(event, lambdaContext());
    expect(plain.statusCode).toBe(200);
    expect(JSON.parse(plain.body)).toEqual({ status: 'ok', profiles: Object.keys(cfg.profiles).sort() });
  });
});

describe('DeepHealthCheck: one key open per profile per key version', () => {
  const base = {
    issuer: 'app',
    subject: 'alice@example.com',
    tokenUri: 'POST https://login.example.com/token',
    certStoreType: 'jks',
  };
  const JKS = join(KEYSTORE_FIXTURES, 'java-rsa2048.jks');

  /** `good` opens, `wrong` has the wrong password; passwords through `env:`. */
  function keystoreConfig() {
    return configFrom(
      profileYaml('good', { ...base, certStore: `file:${JKS}`, certPassword: 'env:GOOD' }) +
        profileYaml('wrong', { ...base, certStore: `file:${JKS}`, certPassword: 'env:WRONG' }),
    );
  }
  const secrets = () => fileSecrets({ GOOD: 'changeit', WRONG: 'not-the-password' });

  /** lib/keystore's openKeystore, counting its calls per password. */
  function countingOpen() {
    const opened: string[] = [];
    const open: OpenKeystore = async (bytes, options) => {
      opened.push(options?.password ?? '');
      return openKeystore(bytes, options);
    };
    return { opened, open };
  }

  it('shares one check among 50 concurrent deep calls: the good key opens once, the wrong one is tried once (twice with the password fetched again)', async () => {
    const { opened, open } = countingOpen();
    const check = new DeepHealthCheck({ secrets: secrets(), openKeystore: open });
    const cfg = keystoreConfig();
    const answers = await Promise.all(Array.from({ length: 50 }, () => check.run(cfg)));
    const expected = {
      status: 'degraded',
      checks: { good: { ok: true }, wrong: { ok: false, code: 'ERR_KEYSTORE_PASSWORD' } },
    };
    for (const answer of answers) expect(answer).toEqual(expected);
    // The wrong password is tried as cached, then once fetched past the secrets cache (as
    // the broker does after a rotation); both attempts belong to the one check.
    expect(opened.filter((p) => p === 'changeit')).toHaveLength(1);
    expect(opened.filter((p) => p === 'not-the-password')).toHaveLength(2);
    // Asked again at once: remembered, nothing opened.
    expect(await check.run(cfg)).toEqual(expected);
    expect(opened).toHaveLength(3);
  });

  it(`opens a key that opened again only after DEEP_CHECK_MAX_AGE_MS (${DEEP_CHECK_MAX_AGE_MS} ms), a failed one after DEEP_CHECK_FAILED_MAX_AGE_MS (${DEEP_CHECK_FAILED_MAX_AGE_MS} ms)`, async () => {
    expect(DEEP_CHECK_FAILED_MAX_AGE_MS).toBeLessThan(DEEP_CHECK_MAX_AGE_MS);
    let now = 1_000_000;
    const { opened, open } = countingOpen();
    const check = new DeepHealthCheck({ secrets: secrets(), openKeystore: open, clock: () => now });
    const cfg = keystoreConfig();
    const good = () => opened.filter((p) => p === 'changeit').length;
    const wrong = () => opened.filter((p) => p === 'not-the-password').length;
    await check.run(cfg);
    expect([good(), wrong()]).toEqual([1, 2]);

    now += DEEP_CHECK_FAILED_MAX_AGE_MS - 1;
    await check.run(cfg);
    expect([good(), wrong()]).toEqual([1, 2]);

    now += 1;
    expect((await check.run(cfg)).checks['wrong']).toEqual({ ok: false, code: 'ERR_KEYSTORE_PASSWORD' });
    expect([good(), wrong()]).toEqual([1, 4]);

    now = 1_000_000 + DEEP_CHECK_MAX_AGE_MS - 1;
    await check.run(cfg);
    expect(good()).toBe(1);

    now += 1;
    expect((await check.run(cfg)).checks['good']).toEqual({ ok: true });
    expect(good()).toBe(2);
  });

  it('opens a key again when its Secrets Manager version changes, once the resolver reads it again', async () => {
    const sm = await startSecretsManager();
    try {
      const bytes = new Uint8Array(readFileSync(JKS));
      sm.put('prod/keystore', { binary: bytes });
      sm.put('prod/password', { text: 'changeit' });
      let now = 5_000_000;
      const resolver = createSecretResolver({
        secretsManager: () => secretsManagerClient(sm.endpoint),
        env: {},
        cwd: process.cwd(),
        clock: () => now,
      });
      const { opened, open } = countingOpen();
      const check = new DeepHealthCheck({ secrets: resolver, openKeystore: open, clock: () => now });
      const cfg = configFrom(
        profileYaml('sm', {
          ...base,
          certStore: 'secretsmanager:prod/keystore',
          certPassword: 'secretsmanager:prod/password',
        }),
      );
      expect(await check.run(cfg)).toEqual({ status: 'ok', checks: { sm: { ok: true } } });
      expect(opened).toHaveLength(1);

      sm.put('prod/keystore', { binary: bytes });
      // The resolver still holds the old version: nothing is read, nothing opened.
      await check.run(cfg);
      expect(opened).toHaveLength(1);
      expect(sm.reads('prod/keystore')).toBe(1);

      now += SECRET_CACHE_MAX_AGE_MS;
      await Promise.all(Array.from({ length: 10 }, () => check.run(cfg)));
      expect(sm.reads('prod/keystore')).toBe(2);
      expect(opened).toHaveLength(2);
      await check.run(cfg);
      expect(opened).toHaveLength(2);
    } finally {
      await sm.close();
    }
  });
});
