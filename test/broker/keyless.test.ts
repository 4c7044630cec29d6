/**
 * Keyless profiles through the broker: the JWT the loopback STS signs for the function's
 * role, sent as the §2.2 client assertion (Entra-style), as the RFC 8693 subject token
 * (Google-style, with the service account step) and as the §2.1 assertion, against the
 * development authorization server's federation on 127.0.0.1. STS calls and token endpoint
 * requests are counted throughout.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stsApiFactory } from '../../lib/aws/sts.ts';
import { createBroker, type BrokerDeps } from '../../lib/broker/index.ts';
import { webIdentityCredential } from '../../lib/broker/keyless.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { FederatedTrust } from '../../lib/dev/federation.ts';
import { BrokerError } from '../../lib/errors.ts';
import { checkProfile } from '../../lib/health/check-profile.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import { WEB_IDENTITY_REFUSAL_MEMORY_MS, WebIdentitySource } from '../../lib/signer/web-identity.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { harnessCertificate, harnessSecrets, KEY_FILE } from '../hardening/harness.ts';
import { fixturePath } from '../hardening/support.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { startStsServer, type StsServer } from '../support/sts-server.ts';

const ROLE = 'arn:aws:iam::210987654321:role/token-broker-token';
const APP = '11111111-2222-3333-4444-555555555555';
const WIP = 'projects/123456789/locations/global/workloadIdentityPools/aws-pool/providers/broker';
const SERVICE_ACCOUNT = 'broker@my-project.iam.gserviceaccount.com';
const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;

let sts: StsServer;
let as: AuthorizationServer | undefined;

beforeAll(async () => {
  sts = await startStsServer({ principals: { AKIDBROKER: ROLE } });
});
afterAll(async () => {
  await sts.close();
});
beforeEach(() => {
  sts.fail(undefined);
  sts.calls.length = 0;
});
afterEach(async () => {
  await as?.close();
  as = undefined;
});

const stsFactory = () =>
  stsApiFactory({
    region: 'eu-west-1',
    endpoint: sts.endpoint,
    credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'test-secret-not-real' },
    maxAttempts: 1,
  });

function recordingLogger(): Logger & { lines: { level: string; message: string; fields?: LogFields }[] } {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      lines.push({ level, message, ...(fields && { fields }) });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function server(trusts: FederatedTrust[]): Promise<AuthorizationServer> {
  as = await startAuthorizationServer({
    clients: [{ clientId: 'client-x', certificatePem: harnessCertificate() }],
    federation: { trusts, allowHttpIssuer: true },
  });
  return as;
}

function config(yaml: string): BrokerConfig {
  return parseConfig(`profiles:\n${yaml}`, 'keyless.yaml');
}

function broker(cfg: BrokerConfig, deps: Partial<BrokerDeps> = {}) {
  return createBroker({
    config: cfg,
    secrets: harnessSecrets(),
    sts: stsFactory(),
    random: () => 0.5,
    exchange: { attemptTimeoutMs: 2_000, deadlineMs: 4_000, sleep: async () => undefined },
    ...deps,
  });
}

async function failure(promise: Promise<unknown>): Promise<BrokerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(err)}`);
  return err;
}

const entraProfile = (tokenUrl: string) => `  entra:
    provider: entra-federated
    issuer: ${APP}
    tokenUri: ${tokenUrl}
    certStore: aws:web-identity
    scope: https://graph.microsoft.com/.default
    callers: ["*"]
`;

const entraTrust = (): FederatedTrust => ({
  issuer: sts.issuer,
  subject: ROLE,
  audiences: ['api://AzureADTokenExchange'],
  clientId: APP,
});

describe('a keyless profile (certStore: aws:web-identity)', () => {
  it('entra-federated: 100 concurrent callers make one STS call and one token request; the JWT is the client assertion', async () => {
    const auth = await server([entraTrust()]);
    const logger = recordingLogger();
    const b = broker(config(entraProfile(auth.tokenUrl)), { logger });
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => b.issue({ profile: 'entra', caller })),
    );
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect(sts.calls).toEqual([
      {
        audience: ['api://AzureADTokenExchange'],
        signingAlgorithm: 'RS256',
        durationSeconds: 300,
        tags: {},
        principal: ROLE,
      },
    ]);
    expect(auth.requests.map((r) => [r.grant, r.clientId, r.subject, r.trust, r.status])).toEqual([
      ['client_credentials', APP, ROLE, sts.issuer, 200],
    ]);
    expect(auth.introspect(tokens[0]!.access_token)).toMatchObject({
      scope: 'https://graph.microsoft.com/.default',
    });
    // A cached token needs neither STS nor the token endpoint.
    await b.issue({ profile: 'entra', caller });
    expect([sts.calls.length, auth.requestCount()]).toEqual([1, 1]);
    expect(JSON.stringify(logger.lines)).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
  });

  it('reuses the held JWT for the next token request of another scope, while it is valid', async () => {
    const auth = await server([entraTrust()]);
    const b = broker(
      config(
        entraProfile(auth.tokenUrl).replace(
          'scope: https://graph.microsoft.com/.default',
          'scope: https://graph.microsoft.com/.default https://vault.azure.net/.default',
        ),
      ),
    );
    await b.issue({ profile: 'entra', caller, scope: 'https://graph.microsoft.com/.default' });
    await b.issue({ profile: 'entra', caller, scope: 'https://vault.azure.net/.default' });
    expect([sts.calls.length, auth.requestCount()]).toEqual([1, 2]);
  });

  it('google-wif: the JWT as subject_token at the STS, then the service account token, each called once for 100 callers', async () => {
    const auth = await server([
      {
        issuer: sts.issuer,
        subject: ROLE,
        audiences: [`https://iam.googleapis.com/${WIP}`],
        clientId: `//iam.googleapis.com/${WIP}`,
      },
    ]);
    const b = broker(
      config(`  gcp:
    provider: google-wif
    issuer: gcp-broker
    tokenUri: ${auth.url}/v1/token
    certStore: aws:web-identity
    workloadIdentityProvider: ${WIP}
    impersonate: { serviceAccount: ${SERVICE_ACCOUNT}, lifetime: 1800, url: "${auth.url}/v1/projects/-/serviceAccounts/{serviceAccount}:generateAccessToken" }
    callers: ["*"]
`),
    );
    const tokens = await Promise.all(Array.from({ length: 100 }, () => b.issue({ profile: 'gcp', caller })));
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect(sts.calls.map((c) => c.audience)).toEqual([[`https://iam.googleapis.com/${WIP}`]]);
    expect([auth.requestsTo('google-sts'), auth.requestsTo('google-generate-access-token')]).toEqual([1, 1]);
    const held = auth.introspect(tokens[0]!.access_token);
    expect(held).toMatchObject({
      clientId: SERVICE_ACCOUNT,
      scope: 'https://www.googleapis.com/auth/cloud-platform',
    });
    // The service account's token, with its own lifetime, is the one answered.
    expect(tokens[0]!.expires_in).toBeGreaterThan(1700);
    expect(tokens[0]!.expires_in).toBeLessThanOrEqual(1800);
  });

  it('google-wif: a service account the pool may not impersonate is refused as upstream_rejected, the federated token never answered', async () => {
    const auth = await startAuthorizationServer({
      clients: [],
      federation: {
        trusts: [
          {
            issuer: sts.issuer,
            subject: ROLE,
            audiences: [`https://iam.googleapis.com/${WIP}`],
            clientId: `//iam.googleapis.com/${WIP}`,
          },
        ],
        allowHttpIssuer: true,
        serviceAccounts: [
          { email: SERVICE_ACCOUNT, members: ['principal://iam.googleapis.com/someone-else'] },
        ],
      },
    });
    as = auth;
    const b = broker(
      config(`  gcp:
    provider: google-wif
    issuer: gcp-broker
    tokenUri: ${auth.url}/v1/token
    certStore: aws:web-identity
    workloadIdentityProvider: ${WIP}
    impersonate: { serviceAccount: ${SERVICE_ACCOUNT}, url: "${auth.url}/v1/projects/-/serviceAccounts/{serviceAccount}:generateAccessToken" }
    callers: ["*"]
`),
    );
    const err = await failure(b.issue({ profile: 'gcp', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(err.details['error']).toBe('PERMISSION_DENIED');
    expect(err.message).toContain(
      `generateAccessToken for ${SERVICE_ACCOUNT} refused the federated token (HTTP 403): PERMISSION_DENIED`,
    );
    expect(err.message).toContain(
      "grant the pool's principal roles/iam.workloadIdentityUser on the service account",
    );
    expect([auth.requestsTo('google-sts'), auth.requestsTo('google-generate-access-token')]).toEqual([1, 1]);
  });

  it('google-wif: a generateAccessToken that stalls ends at the exchange deadline, not at a fresh attempt timeout', async () => {
    const auth = await server([
      {
        issuer: sts.issuer,
        subject: ROLE,
        audiences: [`https://iam.googleapis.com/${WIP}`],
        clientId: `//iam.googleapis.com/${WIP}`,
      },
    ]);
    const stalled = createServer((req) => req.resume());
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    try {
      const port = (stalled.address() as AddressInfo).port;
      const b = broker(
        config(`  gcp:
    provider: google-wif
    issuer: gcp-broker
    tokenUri: ${auth.url}/v1/token
    certStore: aws:web-identity
    workloadIdentityProvider: ${WIP}
    impersonate: { serviceAccount: ${SERVICE_ACCOUNT}, url: "http://127.0.0.1:${port}/{serviceAccount}" }
    callers: ["*"]
`),
        // An attempt may take a minute, the whole exchange 400 ms: the second step gets what is left.
        { exchange: { attemptTimeoutMs: 60_000, deadlineMs: 400, sleep: async () => undefined } },
      );
      const err = await failure(b.issue({ profile: 'gcp', caller }));
      expect(err.code).toBe('ERR_UPSTREAM_UNAVAILABLE');
      expect(auth.requestsTo('google-sts')).toBe(1);
    } finally {
      stalled.closeAllConnections();
      await new Promise((resolve) => stalled.close(resolve));
    }
  });

  it('jwt-bearer: the JWT as the §2.1 assertion of a provider that trusts the AWS issuer', async () => {
    const auth = await server([
      { issuer: sts.issuer, subject: ROLE, audiences: ['https://api.example.com'] },
    ]);
    const b = broker(
      config(`  bearer:
    issuer: aws-role
    tokenUri: ${auth.tokenUrl}
    certStore: aws:web-identity
    webIdentity: { audience: "https://api.example.com", algorithm: ES384, lifetime: 900, tags: { team: billing } }
    callers: ["*"]
`),
    );
    const tokens = await Promise.all(
      Array.from({ length: 100 }, () => b.issue({ profile: 'bearer', caller })),
    );
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect(sts.calls).toEqual([
      {
        audience: ['https://api.example.com'],
        signingAlgorithm: 'ES384',
        durationSeconds: 900,
        tags: { team: 'billing' },
        principal: ROLE,
      },
    ]);
    expect(auth.requests.map((r) => [r.grant, r.trust, r.status])).toEqual([
      ['urn:ietf:params:oauth:grant-type:jwt-bearer', sts.issuer, 200],
    ]);
    expect(auth.introspect(tokens[0]!.access_token)).toMatchObject({ subject: ROLE });
  });

  it('two instances sharing the token table: one STS call and one token request for 100 callers', async () => {
    const auth = await server([entraTrust()]);
    const shared = memorySharedStore(Date.now);
    const cfg = config(entraProfile(auth.tokenUrl));
    const a = broker(cfg, { sharedStore: shared, sleep: () => new Promise((r) => setTimeout(r, 5)) });
    const c = broker(cfg, { sharedStore: shared, sleep: () => new Promise((r) => setTimeout(r, 5)) });
    const tokens = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : c).issue({ profile: 'entra', caller })),
    );
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect([sts.calls.length, auth.requestCount()]).toEqual([1, 1]);
    // The JWT itself never goes to the shared table.
    expect(JSON.stringify([...shared.tokens.values()])).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });

  it.each([
    ['OutboundWebIdentityFederationDisabled', 'ERR_WEB_IDENTITY_DISABLED', 500, 'key_unavailable'],
    ['AccessDenied', 'ERR_WEB_IDENTITY_DENIED', 500, 'key_unavailable'],
    ['RegionDisabled', 'ERR_WEB_IDENTITY_REGION', 500, 'key_unavailable'],
    ['Throttling', 'ERR_WEB_IDENTITY_THROTTLED', 503, 'secret_unavailable'],
    ['InternalFailure', 'ERR_WEB_IDENTITY_UNAVAILABLE', 503, 'secret_unavailable'],
  ] as const)('STS %s: %s (HTTP %i %s), no token request', async (fault, code, status, error) => {
    const auth = await server([entraTrust()]);
    const b = broker(config(entraProfile(auth.tokenUrl)));
    sts.fail(fault);
    const err = await failure(b.issue({ profile: 'entra', caller }));
    expect(err.code).toBe(code);
    expect(HTTP_ERRORS[code]).toMatchObject({ status, error, expose: false });
    expect(auth.requestCount()).toBe(0);
  });
});

describe('a keyless profile beside the schedule and the health check', () => {
  it('has no certificate to expire, and its deep health check is ok without calling STS', async () => {
    const cfg = config(entraProfile('https://login.example.com/token'));
    expect(await broker(cfg).certificateExpiry('entra')).toBeUndefined();
    const check = await checkProfile(cfg.profiles['entra']!, {
      secrets: harnessSecrets(),
      kms: () => Promise.reject(new Error('no KMS here')),
      openKeystore: () => Promise.reject(new Error('no keystore here')),
    });
    expect(check).toEqual({ ok: true });
    expect(sts.calls).toHaveLength(0);
  });
});

describe('webIdentity.fallback: keystore', () => {
  const fallbackProfile = (tokenUrl: string) => `  mixed:
    issuer: client-x
    tokenUri: ${tokenUrl}
    grant: client-assertion
    certStore: file:${fixturePath(KEY_FILE)}
    webIdentity: { audience: api://AzureADTokenExchange, fallback: keystore }
    scope: https://graph.microsoft.com/.default
    callers: ["*"]
`;

  it('uses the keystore key when outbound federation is disabled, with one warning line', async () => {
    const auth = await server([]);
    const logger = recordingLogger();
    const b = broker(config(fallbackProfile(auth.tokenUrl)), { logger });
    sts.fail('OutboundWebIdentityFederationDisabled');
    const token = await b.issue({ profile: 'mixed', caller });
    expect(token.cached).toBe(false);
    expect(sts.calls).toHaveLength(1);
    expect(auth.requests.map((r) => [r.clientId, r.trust, r.status])).toEqual([['client-x', undefined, 200]]);
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'web identity unavailable; using the keystore key (webIdentity.fallback: keystore)',
        fields: { profile: 'mixed', code: 'ERR_WEB_IDENTITY_DISABLED' },
      },
    ]);
  });

  it('sends the JWT first when STS gives one, and never falls back when the provider refuses it', async () => {
    // No trust for client-x: the provider checks the AWS JWT against the registered key and refuses it.
    const auth = await server([]);
    const b = broker(config(fallbackProfile(auth.tokenUrl)));
    const err = await failure(b.issue({ profile: 'mixed', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(sts.calls).toHaveLength(1);
    // One request, with the JWT: no second one signed with the key, no reopening.
    expect(auth.requests.map((r) => [r.grant, r.status >= 400])).toEqual([['client_credentials', true]]);
  });

  it('remembers a refusal the key cures for WEB_IDENTITY_REFUSAL_MEMORY_MS: no STS call until then, one at its edge', async () => {
    let now = Date.parse('2026-12-07T12:00:00Z');
    const source = new WebIdentitySource({ sts: stsFactory(), clock: () => now });
    const logger = recordingLogger();
    const profile = config(fallbackProfile('POST https://login.example.com/token')).profiles['mixed']!;
    sts.fail('OutboundWebIdentityFederationDisabled');
    for (let i = 0; i < 20; i++) expect(await webIdentityCredential(profile, source, logger)).toBeUndefined();
    expect(sts.calls).toHaveLength(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    now += WEB_IDENTITY_REFUSAL_MEMORY_MS - 1;
    expect(await webIdentityCredential(profile, source, logger)).toBeUndefined();
    expect(sts.calls).toHaveLength(1);
    // At its edge the refusal no longer holds: STS is asked again (still refusing, remembered anew).
    now += 1;
    expect(await webIdentityCredential(profile, source, logger)).toBeUndefined();
    expect(sts.calls).toHaveLength(2);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    // Once the account has it, the next ask after the memory gets the JWT.
    sts.fail(undefined);
    now += WEB_IDENTITY_REFUSAL_MEMORY_MS;
    const credential = await webIdentityCredential(profile, source, logger);
    expect(credential?.webIdentity).toBe(true);
    expect(sts.calls).toHaveLength(3);
  });

  it('through the broker: token fetches while the refusal holds use the key with no STS call', async () => {
    const auth = await server([]);
    const b = broker(
      config(
        fallbackProfile(auth.tokenUrl).replace('scope: https://graph.microsoft.com/.default', 'scope: a b c'),
      ),
    );
    sts.fail('RegionDisabled');
    // Three scopes: three token fetches (no cache hit among them).
    for (const scope of ['a', 'b', 'c'])
      expect((await b.issue({ profile: 'mixed', caller, scope })).cached).toBe(false);
    expect(sts.calls).toHaveLength(1);
    expect(auth.requests.map((r) => [r.clientId, r.trust, r.status])).toEqual(
      Array.from({ length: 3 }, () => ['client-x', undefined, 200]),
    );
  });

  it('remembers nothing for a keyless profile without fallback: each fetch asks STS', async () => {
    const source = new WebIdentitySource({ sts: stsFactory() });
    const profile = config(entraProfile('POST https://login.example.com/token')).profiles['entra']!;
    sts.fail('OutboundWebIdentityFederationDisabled');
    for (let i = 0; i < 3; i++)
      expect((await failure(webIdentityCredential(profile, source, recordingLogger()))).code).toBe(
        'ERR_WEB_IDENTITY_DISABLED',
      );
    expect(sts.calls).toHaveLength(3);
  });

  it('does not fall back on a denial (an IAM policy to fix), nor on throttling', async () => {
    const auth = await server([]);
    const b = broker(config(fallbackProfile(auth.tokenUrl)));
    sts.fail('AccessDenied');
    expect((await failure(b.issue({ profile: 'mixed', caller }))).code).toBe('ERR_WEB_IDENTITY_DENIED');
    sts.fail('Throttling');
    expect((await failure(b.issue({ profile: 'mixed', caller }))).code).toBe('ERR_WEB_IDENTITY_THROTTLED');
    expect(auth.requestCount()).toBe(0);
  });
});

describe('a clock skew rejection of the web identity JWT', () => {
  it('retries once with a JWT STS signs afresh, never the same JWT as if re-signed', async () => {
    // The provider's clock is 10 minutes ahead: the 5-minute JWT has expired there (invalid_grant, exp).
    as = await startAuthorizationServer({
      clients: [],
      clock: () => Date.now() + 600_000,
      federation: {
        trusts: [{ issuer: sts.issuer, subject: ROLE, audiences: ['https://api.example.com'] }],
        allowHttpIssuer: true,
      },
    });
    const b = broker(
      config(`  bearer:
    issuer: aws-role
    tokenUri: ${as.tokenUrl}
    certStore: aws:web-identity
    webIdentity: { audience: "https://api.example.com" }
    callers: ["*"]
`),
    );
    const err = await failure(b.issue({ profile: 'bearer', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(err.message).toContain('invalid_grant');
    // Two requests (the skew retry), each with its own JWT: two STS calls.
    expect(as.requests.map((r) => [r.grant, r.status])).toEqual([
      ['urn:ietf:params:oauth:grant-type:jwt-bearer', 400],
      ['urn:ietf:params:oauth:grant-type:jwt-bearer', 400],
    ]);
    expect(sts.calls).toHaveLength(2);
  });
});
