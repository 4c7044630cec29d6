import { copyFile, mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, tokenFingerprint, type BrokerDeps } from '../lib/broker/index.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../lib/dev/authorization-server.ts';
import { ConsentRequired, RequestError } from '../lib/errors.ts';
import type { Caller } from '../lib/types.ts';
import { configFrom, fileSecrets, profileYaml } from './support/broker-env.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';
import { manualClock, recordingLogger, recordingMetrics } from './support/shared-cache-fixtures.ts';

const KEY_FILE = join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem');
const OTHER_KEY_FILE = join(KEYSTORE_FIXTURES, 'pem-ec256-pkcs8.pem');
const BILLING: Caller = { id: 'arn:aws:iam::123456789012:role/billing-api', kind: 'iam' };

let server: AuthorizationServer;
let certificatePem: string;
let tmp: string;

beforeAll(async () => {
  certificatePem = await readFile(`${KEY_FILE}.cert.pem`, 'utf8');
  tmp = await mkdtemp(join(tmpdir(), 'broker-test-'));
  server = await startAuthorizationServer({
    clients: [
      {
        clientId: 'app',
        certificatePem,
        subjects: ['alice@example.com', 'bob@example.com'],
        scopes: ['read', 'write'],
        requiredHeaders: { SecurityToken: 'st-1' },
      },
      { clientId: 'consent-app', certificatePem, requireConsent: true },
      { clientId: 'cc-app', certificatePem },
    ],
  });
});
afterAll(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

function brokerFor(fields: Record<string, unknown> = {}, deps: Partial<BrokerDeps> = {}) {
  const logger = recordingLogger();
  const metrics = recordingMetrics();
  const config = configFrom(
    profileYaml('demo', {
      issuer: 'app',
      subject: 'alice@example.com',
      subjects: ['*@example.com'],
      tokenUri: `POST ${server.tokenUrl}`,
      scope: 'read write',
      certStore: `file:${KEY_FILE}`,
      headers: { SecurityToken: 'st-1' },
      callers: ['arn:aws:iam::123456789012:role/billing-*'],
      consentErrors: [{ error: 'consent_required' }],
      ...fields,
    }),
  );
  const broker = createBroker({ config, secrets: fileSecrets(), logger, metrics, ...deps });
  return { broker, logger, metrics, config };
}

describe('broker.issue', () => {
  it('obtains a token from the authorization server, then serves it from cache', async () => {
    const { broker, logger, metrics } = brokerFor({}, { clock: manualClock(Date.now()).now });
    server.resetRequests();
    const first = await broker.issue({ profile: 'demo', caller: BILLING });
    expect(first).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read write',
      cached: false,
    });
    expect(server.introspect(first.access_token)).toMatchObject({
      clientId: 'app',
      subject: 'alice@example.com',
    });
    const second = await broker.issue({ profile: 'demo', caller: BILLING, scope: 'write read' });
    expect(second).toMatchObject({ access_token: first.access_token, cached: true });
    expect(server.requestCount()).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'info')).toEqual([
      {
        level: 'info',
        message: 'token issued',
        fields: {
          requestId: null,
          caller: BILLING.id,
          callerKind: 'iam',
          sourceIp: null,
          profile: 'demo',
          subject: 'alice@example.com',
          scope: 'read write',
          cached: false,
          fingerprint: tokenFingerprint(first.access_token),
        },
      },
      expect.objectContaining({ fields: expect.objectContaining({ cached: true }) }),
    ]);
    expect(JSON.stringify(logger.lines)).not.toContain(first.access_token);
    expect([metrics.total('TokensIssued'), metrics.total('CacheHits'), metrics.total('CacheMisses')]).toEqual(
      [2, 1, 1],
    );
  });

  it('resolves a header written as a secret reference before sending it', async () => {
    const { broker } = brokerFor(
      { headers: { SecurityToken: 'env:TB_SECURITY_TOKEN' } },
      { secrets: fileSecrets({ TB_SECURITY_TOKEN: 'st-1' }) },
    );
    const token = await broker.issue({ profile: 'demo', subject: 'bob@example.com', caller: BILLING });
    expect(server.introspect(token.access_token)).toMatchObject({ subject: 'bob@example.com' });
    const { broker: wrong } = brokerFor(
      { headers: { SecurityToken: 'env:TB_SECURITY_TOKEN' } },
      { secrets: fileSecrets({ TB_SECURITY_TOKEN: 'not-it' }) },
    );
    await expect(
      wrong.issue({ profile: 'demo', subject: 'bob@example.com', caller: BILLING }),
    ).rejects.toMatchObject({ code: 'ERR_UPSTREAM_REJECTED' });
  });

  it('makes exactly one upstream request for 100 concurrent calls', async () => {
    const { broker } = brokerFor();
    server.resetRequests();
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () =>
        broker.issue({ profile: 'demo', subject: 'bob@example.com', caller: BILLING }),
      ),
    );
    expect(server.requestCount()).toBe(1);
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
  });

  it('asks again once the token is below minTtl (injected clock)', async () => {
    const clock = manualClock(Date.now());
    const { broker } = brokerFor({}, { clock: clock.now });
    const first = await broker.issue({ profile: 'demo', caller: BILLING });
    clock.advance(3_600_000 - 59_000);
    const later = await broker.issue({ profile: 'demo', caller: BILLING, minTtl: 60 });
    expect(later.cached).toBe(false);
    expect(later.access_token).not.toBe(first.access_token);
  });

  it('refuses an unknown profile with ERR_UNKNOWN_PROFILE', async () => {
    const { broker } = brokerFor();
    await expect(broker.issue({ profile: 'nope', caller: BILLING })).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_PROFILE',
      message: `unknown profile "nope"; ask for a profile the broker's configuration defines`,
    });
    await expect(broker.issue({ profile: 'toString', caller: BILLING })).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_PROFILE',
    });
  });

  it('refuses a caller outside the profile’s callers with ERR_FORBIDDEN', async () => {
    const { broker } = brokerFor();
    const err = await broker
      .issue({ profile: 'demo', caller: { id: 'arn:aws:iam::123456789012:role/payroll', kind: 'iam' } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({
      code: 'ERR_FORBIDDEN',
      message: `caller "arn:aws:iam::123456789012:role/payroll" may not use profile "demo"; add it to the profile's callers`,
    });
  });

  it('lets the CLI bypass the callers policy only when its kind is trusted', async () => {
    const cli: Caller = { id: 'cli', kind: 'cli' };
    await expect(brokerFor().broker.issue({ profile: 'demo', caller: cli })).rejects.toMatchObject({
      code: 'ERR_FORBIDDEN',
    });
    const { broker } = brokerFor({}, { trustedCallerKinds: ['cli'] });
    await expect(broker.issue({ profile: 'demo', caller: cli })).resolves.toMatchObject({
      token_type: 'Bearer',
    });
  });

  it('refuses a subject outside the subjects patterns', async () => {
    const { broker } = brokerFor();
    await expect(
      broker.issue({ profile: 'demo', subject: 'eve@evil.org', caller: BILLING }),
    ).rejects.toMatchObject({
      code: 'ERR_SUBJECT_NOT_ALLOWED',
      message: `subject "eve@evil.org" is not allowed for profile "demo"; ask for one its subjects patterns match`,
    });
  });

  it('refuses scopes beyond the profile’s, naming them', async () => {
    const { broker } = brokerFor();
    await expect(
      broker.issue({ profile: 'demo', scope: 'read admin root', caller: BILLING }),
    ).rejects.toMatchObject({
      code: 'ERR_SCOPE_NOT_ALLOWED',
      message: `scope "admin root" is not allowed for profile "demo"; ask within "read write"`,
    });
  });

  it.each([-1, 1.5, 86_401, Number.NaN])('refuses minTtl %s with ERR_INVALID_REQUEST', async (minTtl) => {
    const { broker } = brokerFor();
    await expect(broker.issue({ profile: 'demo', minTtl, caller: BILLING })).rejects.toMatchObject({
      code: 'ERR_INVALID_REQUEST',
      message: 'minTtl must be a whole number of seconds from 0 to 86400',
    });
  });

  it('refuses a request without subject when the profile has none', async () => {
    const { broker } = brokerFor({ subject: undefined, subjects: ['*'] });
    await expect(broker.issue({ profile: 'demo', caller: BILLING })).rejects.toMatchObject({
      code: 'ERR_INVALID_REQUEST',
      message: 'profile "demo" has no default subject; pass "subject"',
    });
  });

  it('reports the provider’s refusal as ERR_UPSTREAM_REJECTED and counts it', async () => {
    const { broker, metrics } = brokerFor({ subjects: ['*@*'] });
    const err = await broker
      .issue({ profile: 'demo', subject: 'carol@example.com', caller: BILLING })
      .catch((e) => e);
    expect(err).toMatchObject({
      code: 'ERR_UPSTREAM_REJECTED',
      message:
        'the token endpoint refused the request (HTTP 400): invalid_grant (subject "carol@example.com" is not allowed for this client)',
    });
    expect(metrics.counts).toContainEqual({
      name: 'UpstreamErrors',
      value: 1,
      dimension: { profile: 'demo', code: 'ERR_UPSTREAM_REJECTED' },
    });
  });

  it('answers ERR_CONSENT_REQUIRED with the consent URL, remembers it, and refresh() works after consent', async () => {
    const { broker } = brokerFor(
      { issuer: 'consent-app', subject: 'dave', subjects: ['dave'], scope: undefined },
      {
        consentUrl: (profile, subject) => `https://broker.example.com/consent/${profile}?subject=${subject}`,
      },
    );
    server.resetRequests();
    const err = await broker.issue({ profile: 'demo', caller: BILLING }).catch((e) => e);
    expect(err).toBeInstanceOf(ConsentRequired);
    expect(err).toMatchObject({
      code: 'ERR_CONSENT_REQUIRED',
      consentUrl: 'https://broker.example.com/consent/demo?subject=dave',
      message: `profile "demo" needs the user's consent for subject "dave"; open the consent URL once, then retry`,
    });
    await expect(broker.issue({ profile: 'demo', caller: BILLING })).rejects.toBeInstanceOf(ConsentRequired);
    expect(server.requestCount()).toBe(1);
    server.grantConsent('consent-app', 'dave');
    const token = await broker.refresh({ profile: 'demo' });
    expect(token.cached).toBe(false);
    await expect(broker.issue({ profile: 'demo', caller: BILLING })).resolves.toMatchObject({
      access_token: token.access_token,
      cached: true,
    });
  });

  it('obtains a token in client-assertion mode', async () => {
    const { broker } = brokerFor({
      issuer: 'cc-app',
      grant: 'client-assertion',
      subject: undefined,
      subjects: undefined,
      scope: undefined,
      headers: undefined,
    });
    const token = await broker.issue({ profile: 'demo', caller: BILLING });
    expect(server.introspect(token.access_token)).toMatchObject({ clientId: 'cc-app', subject: 'cc-app' });
    expect(server.requests.at(-1)).toMatchObject({ grant: 'client_credentials', clientId: 'cc-app' });
  });

  it('reopens rotated key material once after invalid_client', async () => {
    const keyFile = join(tmp, 'rotating.pem');
    await copyFile(KEY_FILE, keyFile);
    server.setClient({ clientId: 'rot-app', certificatePem });
    const { broker, logger } = brokerFor({
      issuer: 'rot-app',
      grant: 'client-assertion',
      certStore: `file:${keyFile}`,
      subject: undefined,
      subjects: undefined,
      scope: undefined,
      headers: undefined,
    });
    await broker.issue({ profile: 'demo', caller: BILLING, minTtl: 0 });
    // Rotate: the file now holds another key, and the server knows only the new certificate.
    await copyFile(OTHER_KEY_FILE, keyFile);
    await utimes(keyFile, new Date(), new Date(Date.now() + 5_000));
    server.setClient({
      clientId: 'rot-app',
      certificatePem: await readFile(`${OTHER_KEY_FILE}.cert.pem`, 'utf8'),
    });
    server.resetRequests();
    const token = await broker.refresh({ profile: 'demo', force: true });
    expect(token.cached).toBe(false);
    expect(server.requests.map((r) => r.error ?? r.status)).toEqual(['invalid_client', 200]);
    expect(logger.warnings().map((l) => l.message)).toContain(
      'the token endpoint refused the key; opening the key material afresh once',
    );
  });

  it('reopens rotated key material once after invalid_grant about the signature (RFC 7523 §2.1 grant)', async () => {
    const keyFile = join(tmp, 'rotating-grant.pem');
    await copyFile(KEY_FILE, keyFile);
    server.setClient({ clientId: 'rot-grant', certificatePem });
    const { broker } = brokerFor({
      issuer: 'rot-grant',
      certStore: `file:${keyFile}`,
      headers: undefined,
    });
    await broker.issue({ profile: 'demo', caller: BILLING, minTtl: 0 });
    await copyFile(OTHER_KEY_FILE, keyFile);
    await utimes(keyFile, new Date(), new Date(Date.now() + 5_000));
    server.setClient({
      clientId: 'rot-grant',
      certificatePem: await readFile(`${OTHER_KEY_FILE}.cert.pem`, 'utf8'),
    });
    server.resetRequests();

    const token = await broker.refresh({ profile: 'demo', force: true });

    expect(token.cached).toBe(false);
    expect(server.requests.map((r) => r.error ?? r.status)).toEqual(['invalid_grant', 200]);
  });

  it('does not send an unchanged key again after invalid_grant about the signature', async () => {
    server.setClient({
      clientId: 'rot-none',
      certificatePem: await readFile(`${OTHER_KEY_FILE}.cert.pem`, 'utf8'),
    });
    const { broker } = brokerFor({ issuer: 'rot-none', headers: undefined });
    server.resetRequests();

    const err = await broker.issue({ profile: 'demo', caller: BILLING }).catch((e: unknown) => e);

    expect(err).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', error: 'invalid_grant' });
    expect(server.requestCount()).toBe(1);
  });
});
