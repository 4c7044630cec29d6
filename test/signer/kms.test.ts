import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../lib/broker/index.ts';
import { kmsCommand } from '../../lib/cli/kms.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { KMS_BACKOFF_MS, openKmsSigner } from '../../lib/signer/kms.ts';
import type { Caller } from '../../lib/types.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { captureIo } from '../support/cli-io.ts';
import { localKms } from '../support/kms-client.ts';
import { startKmsServer, type KeySpec, type KmsServer, type LoopbackKey } from '../support/kms-server.ts';

const CALLER: Caller = { id: 'arn:aws:iam::123456789012:role/billing-api', kind: 'iam' };

let kms: KmsServer;
let auth: AuthorizationServer;
let tmp: string;

beforeAll(async () => {
  kms = await startKmsServer();
  auth = await startAuthorizationServer({ clients: [] });
  tmp = await mkdtemp(join(tmpdir(), 'kms-test-'));
});
afterAll(async () => {
  await kms.close();
  await auth.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A certificate for the key, made by the CLI (signed by the loopback KMS). */
async function cliCertificate(keyId: string, extra: string[] = []): Promise<string> {
  const captured = captureIo();
  const code = await kmsCommand(
    ['certificate', keyId, '--subject', 'CN=broker test, O=Example, C=US', '--days', '30', ...extra],
    captured.io,
    { kms: localKms(kms.url) },
  );
  expect(captured.stderr()).toBe('');
  expect(code).toBe(0);
  return captured.stdout();
}

async function kmsProfile(spec: KeySpec, fields: Record<string, unknown> = {}) {
  const alias = `alias/test-${spec.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`;
  const key = kms.createKey(spec, alias);
  const certificatePem = await cliCertificate(alias);
  const certFile = join(tmp, `${key.keyId}.pem`);
  await writeFile(certFile, certificatePem);
  const clientId = `client-${key.keyId}`;
  auth.setClient({ clientId, certificatePem });
  const config = configFrom(
    profileYaml('kms', {
      issuer: clientId,
      subject: 'alice@example.com',
      tokenUri: `POST ${auth.tokenUrl}`,
      certStore: `kms:${alias}`,
      certificate: `file:${certFile}`,
      callers: ['arn:aws:iam::123456789012:role/billing-*'],
      assertion: { x5t: true },
      ...fields,
    }),
  );
  const broker = createBroker({ config, secrets: fileSecrets(), kms: localKms(kms.url) });
  return { key, alias, certificatePem, certFile, broker, clientId };
}

describe('KMS-held keys through the real SDK and a loopback KMS', () => {
  it.each(['RSA_2048', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521'] as const)(
    'issues a token for a %s profile, verified by the authorization server with the CLI-made certificate',
    async (spec) => {
      const { broker, certificatePem, key } = await kmsProfile(spec);
      const before = { get: kms.calls['GetPublicKey'] ?? 0, sign: kms.calls['Sign'] ?? 0 };
      const first = await broker.issue({ profile: 'kms', caller: CALLER });
      expect(first.access_token).toMatch(/./);
      const certificate = new X509Certificate(certificatePem);
      expect(certificate.verify(certificate.publicKey)).toBe(true);
      expect(certificate.publicKey.export({ type: 'spki', format: 'der' })).toEqual(
        key.publicKey.export({ type: 'spki', format: 'der' }),
      );
      expect(certificate.subject).toBe('CN=broker test\nO=Example\nC=US');
      // A second miss signs again but reads the public key no more.
      broker.invalidate({ profile: 'kms' });
      const second = await broker.issue({ profile: 'kms', caller: CALLER });
      expect(second.cached).toBe(false);
      expect((kms.calls['GetPublicKey'] ?? 0) - before.get).toBe(1);
      expect((kms.calls['Sign'] ?? 0) - before.sign).toBe(2);
    },
  );

  it('signs PS256 with a salt as long as the hash, verified by the authorization server', async () => {
    const { broker } = await kmsProfile('RSA_3072', { assertion: { algorithm: 'PS256', x5t: true } });
    const token = await broker.issue({ profile: 'kms', caller: CALLER });
    expect(token.token_type.toLowerCase()).toBe('bearer');
  });

  it('sends an assertion longer than 4096 bytes as a DIGEST and it still verifies (RS256 and PS384)', async () => {
    for (const algorithm of ['RS256', 'PS384'] as const) {
      const { broker } = await kmsProfile('RSA_2048', {
        assertion: { algorithm, x5t: true, claims: { padding: 'x'.repeat(5000) } },
      });
      const types = kms.messageTypes.length;
      await broker.issue({ profile: 'kms', caller: CALLER });
      expect(kms.messageTypes.slice(types)).toEqual(['DIGEST']);
    }
  });

  it('writes a PKCS#10 request that openssl verifies', async () => {
    const key = kms.createKey('ECC_NIST_P256');
    const pem = await cliCertificate(key.arn, ['--csr']);
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], { input: pem }).toString();
    expect(out).toContain('CN = broker test');
  });
});

describe('KMS error mapping', () => {
  const open = async (key: LoopbackKey, extra: { certificate?: Uint8Array } = {}) =>
    openKmsSigner({
      api: await localKms(kms.url)(undefined),
      keyId: key.keyId,
      sleep: async () => undefined,
      ...extra,
    });

  it('maps AccessDeniedException to ERR_KMS_ACCESS_DENIED naming the key', async () => {
    const key = kms.createKey('RSA_2048');
    key.denied = true;
    const err = await open(key).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_ACCESS_DENIED');
    expect(err.message).toBe(
      `KMS key ${key.keyId}: GetPublicKey was denied (AccessDeniedException); grant kms:Sign and kms:GetPublicKey on the key to this role and check the key policy`,
    );
  });

  it('maps a disabled key to ERR_KMS_KEY_STATE at Sign, and a key pending deletion at GetPublicKey', async () => {
    const key = kms.createKey('ECC_NIST_P256');
    const signer = await open(key);
    key.state = 'Disabled';
    const err = await signer.sign('ES256', Buffer.from('x')).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_KEY_STATE');
    expect(err.message).toBe(
      `KMS key ${key.keyId}: Sign failed because the key is not usable (DisabledException); enable the key, cancel its deletion or fix the key id`,
    );
    key.state = 'PendingDeletion';
    const pending = await open(key).catch((e) => e);
    expect(pending.code).toBe('ERR_KMS_KEY_STATE');
    expect(pending.message).toContain('(KMSInvalidStateException)');
  });

  it('maps an unknown key to ERR_KMS_KEY_STATE', async () => {
    const err = await openKmsSigner({
      api: await localKms(kms.url)(undefined),
      keyId: 'alias/none',
    }).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_KEY_STATE');
    expect(err.message).toContain(
      'KMS key alias/none: GetPublicKey failed because the key is not usable (NotFoundException)',
    );
  });

  it('retries throttling with backoff and succeeds on the third attempt', async () => {
    const key = kms.createKey('RSA_2048');
    const sleeps: number[] = [];
    const signer = await openKmsSigner({
      api: await localKms(kms.url)(undefined),
      keyId: key.keyId,
      random: () => 0.999,
      sleep: async (ms) => void sleeps.push(ms),
    });
    const before = kms.calls['Sign'] ?? 0;
    kms.fail({ type: 'ThrottlingException', status: 400 }, 2);
    const signature = await signer.sign('RS256', Buffer.from('x'));
    expect(signature.length).toBe(256);
    expect((kms.calls['Sign'] ?? 0) - before).toBe(3);
    expect(sleeps).toEqual([KMS_BACKOFF_MS - 1, 2 * KMS_BACKOFF_MS - 1]);
  });

  it('gives up after three attempts with ERR_KMS_UNAVAILABLE', async () => {
    const key = kms.createKey('RSA_2048');
    const signer = await open(key);
    const before = kms.calls['Sign'] ?? 0;
    kms.fail({ type: 'KMSInternalException', status: 500 }, 3);
    const err = await signer.sign('RS256', Buffer.from('x')).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_UNAVAILABLE');
    expect(err.message).toBe(
      `KMS key ${key.keyId}: Sign failed (KMSInternalException); KMS is unreachable or throttling, try again`,
    );
    expect((kms.calls['Sign'] ?? 0) - before).toBe(3);
  });

  it('names a refused connection in ERR_KMS_UNAVAILABLE', async () => {
    const closed = await startKmsServer();
    const url = closed.url;
    await closed.close();
    const err = await openKmsSigner({
      api: await localKms(url)(undefined),
      keyId: 'alias/gone',
      sleep: async () => undefined,
    }).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_UNAVAILABLE');
    expect(err.message).toBe(
      `KMS key alias/gone: GetPublicKey failed (connection refused by 127.0.0.1:${new URL(url).port}); KMS is unreachable or throttling, try again`,
    );
  });

  it('rejects a certificate of another key with ERR_KEY_CERT_MISMATCH', async () => {
    const other = kms.createKey('RSA_2048');
    const certificate = Buffer.from(await cliCertificate(other.keyId));
    const key = kms.createKey('RSA_2048');
    const err = await open(key, { certificate }).catch((e) => e);
    expect(err.code).toBe('ERR_KEY_CERT_MISMATCH');
    expect(err.message).toBe(
      `the certificate of KMS key ${key.keyId} (RSA_2048) certifies another key; make one from the key with "token-broker kms certificate"`,
    );
  });

  it('refuses an algorithm the key spec cannot sign with ERR_UNSUPPORTED_KEY', async () => {
    const key = kms.createKey('ECC_NIST_P256');
    const err = await openKmsSigner({
      api: await localKms(kms.url)(undefined),
      keyId: key.keyId,
      algorithm: 'RS256',
    }).catch((e) => e);
    expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(err.message).toBe(
      `algorithm RS256 does not suit KMS key ${key.keyId} (ECC_NIST_P256); use ES256 or auto`,
    );
  });

  it('never puts the signing input in an error', async () => {
    const key = kms.createKey('RSA_2048');
    const signer = await open(key);
    kms.fail({ type: 'AccessDeniedException', status: 400 });
    const err = await signer.sign('RS256', Buffer.from('secret-claims-payload')).catch((e) => e);
    expect(err.code).toBe('ERR_KMS_ACCESS_DENIED');
    expect(JSON.stringify({ m: err.message, d: err.details })).not.toContain('secret-claims-payload');
  });
});

it('puts x5t of the CLI certificate in the assertion header', async () => {
  const { certificatePem, alias } = await kmsProfile('RSA_2048');
  const signer = await openKmsSigner({
    api: await localKms(kms.url)(undefined),
    keyId: alias,
    certificate: Buffer.from(certificatePem),
  });
  const { createHash } = await import('node:crypto');
  expect(signer.x5t).toBe(
    createHash('sha1').update(new X509Certificate(certificatePem).raw).digest('base64url'),
  );
  const { signAssertion } = await import('../../lib/assertion/sign.ts');
  const { tokenProfile } = await import('../support/token-profile.ts');
  const { jwt } = await signAssertion({
    profile: tokenProfile({ assertion: { x5t: true } }),
    key: signer,
    subject: 's',
    scopes: [],
    now: Date.now(),
  });
  expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT', x5t: signer.x5t });
});

describe('token-broker check on KMS profiles', () => {
  it('reports the key spec, algorithm and certificate expiry, and a KMS failure as an error line', async () => {
    const { check } = await import('../../lib/cli/check.ts');
    const { key, alias, certFile } = await kmsProfile('RSA_2048');
    const denied = kms.createKey('ECC_NIST_P256');
    denied.denied = true;
    const file = join(tmp, `check-${key.keyId}.yaml`);
    await writeFile(
      file,
      configYaml([
        ['good', { certStore: `kms:${alias}`, certificate: `file:${certFile}` }],
        ['denied', { certStore: `kms:${denied.keyId}` }],
      ]),
    );
    const good = captureIo();
    expect(await check(['good', '--config', file], good.io, { kms: localKms(kms.url) })).toBe(0);
    expect(good.stdout()).toContain(`  key: KMS RSA_2048 ${key.arn}, signs RS256\n`);
    expect(good.stdout()).toMatch(/certificate: expires in 29 days \(\d{4}-\d\d-\d\d\); renew it soon\n/);
    const bad = captureIo();
    expect(await check(['denied', '--config', file], bad.io, { kms: localKms(kms.url) })).toBe(1);
    expect(bad.stdout()).toContain(
      `  error: certStore (kms:${denied.keyId}): ERR_KMS_ACCESS_DENIED: KMS key ${denied.keyId}: GetPublicKey was denied (AccessDeniedException)`,
    );
  });
});

/** A profiles file of profiles with the same issuer, subject and token endpoint. */
function configYaml(profiles: [string, Record<string, string>][]): string {
  const base = {
    issuer: 'app',
    subject: 'alice@example.com',
    tokenUri: `POST ${auth.tokenUrl}`,
    callers: '["cli"]',
  };
  return `profiles:\n${profiles
    .map(
      ([name, fields]) =>
        `  ${name}:\n${Object.entries({ ...base, ...fields })
          .map(([k, v]) => `    ${k}: ${v.startsWith('[') ? v : JSON.stringify(v)}`)
          .join('\n')}`,
    )
    .join('\n')}\n`;
}
