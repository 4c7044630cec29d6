import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHealthHandler } from '../../functions/health.ts';
import { deepHealth } from '../../lib/health/deep.ts';
import { silentLogger } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { localKms } from '../support/kms-client.ts';
import { startKmsServer, type KmsServer } from '../support/kms-server.ts';

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
