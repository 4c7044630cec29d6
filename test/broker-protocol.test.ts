/**
 * Provider protocol fidelity through the broker, against the development authorization
 * server on 127.0.0.1: what the user configured is sent as written (scope order, params,
 * headers, GET, `typ`), and what the provider answers is read in full (extra fields,
 * consent, skew) and cached with the token. Upstream requests are counted throughout.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../functions/token.ts';
import { createDynamoDbStore } from '../lib/cache/dynamodb-store.ts';
import { ensureTable } from '../lib/cache/ensure-table.ts';
import type { AuthorizationServer, DevClient } from '../lib/dev/authorization-server.ts';
import { SKEW_MEMORY_MS } from '../lib/exchange/skew.ts';
import type { Metrics, MetricName } from '../lib/types.ts';
import { apiEvent, lambdaContext } from './functions/events.ts';
import { harnessBroker, harnessConfig, harnessSecrets, startDevServer } from './hardening/harness.ts';
import { capturingLogger, rejection } from './hardening/support.ts';
import { startDynalite, type Dynalite } from './support/dynalite.ts';

const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
const SUBJECT = 'alice@example.com';

let server: AuthorizationServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function devServer(client: Omit<DevClient, 'certificatePem' | 'clientId'>, clock?: () => number) {
  server = await startDevServer([{ clientId: 'client-p', ...client }]);
  if (clock) {
    // The same server with its own clock (a provider whose clock is off).
    await server.close();
    const { startAuthorizationServer } = await import('../lib/dev/authorization-server.ts');
    const { harnessCertificate } = await import('./hardening/harness.ts');
    server = await startAuthorizationServer({
      clients: [{ clientId: 'client-p', certificatePem: harnessCertificate(), ...client }],
      clock,
    });
  }
  return server;
}

function config(tokenUrl: string, extra: Record<string, string> = {}, scope = 'signature impersonation') {
  return harnessConfig({
    p: {
      issuer: 'client-p',
      tokenUrl,
      subject: SUBJECT,
      subjects: ['*@example.com'],
      scope,
      callers: ['*'],
      extra,
    },
  });
}

function countingMetrics(): Metrics & { counts: Partial<Record<MetricName, number>> } {
  const counts: Partial<Record<MetricName, number>> = {};
  return {
    counts,
    count: (name, value = 1) => void (counts[name] = (counts[name] ?? 0) + value),
    timing: () => undefined,
  };
}

describe('scope on the wire as configured', () => {
  it('gets a token from a server that compares the scope string exactly, for a GET profile with custom headers', async () => {
    const as = await devServer({
      allowGet: true,
      exactScope: 'signature impersonation',
      requiredHeaders: { 'X-Api-Version': '2', 'X-Tenant': 'acme' },
    });
    const broker = harnessBroker(
      config(`GET ${as.tokenUrl}`, {
        scopeIn: 'form',
        headers: '{ X-Api-Version: "2", X-Tenant: env:TENANT }',
      }),
      { secrets: harnessSecrets({ TENANT: 'acme' }) },
    );
    const token = await broker.issue({ profile: 'p', caller });
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'signature impersonation', cached: false });
    expect(as.requests.map((r) => [r.method, r.status])).toEqual([['GET', 200]]);
    expect(as.introspect(token.access_token)).toMatchObject({
      subject: SUBJECT,
      scope: 'signature impersonation',
    });
  });

  it('sends the order a caller wrote after the subset check, and caches both orders under one key', async () => {
    const as = await devServer({ exactScope: 'impersonation signature' });
    const broker = harnessBroker(config(as.tokenUrl, { scopeIn: 'form' }));
    const first = await broker.issue({ profile: 'p', caller, scope: 'impersonation signature' });
    expect(first.scope).toBe('impersonation signature');
    const second = await broker.issue({ profile: 'p', caller, scope: 'signature  impersonation' });
    expect(second).toMatchObject({ access_token: first.access_token, cached: true });
    expect(as.requestCount()).toBe(1);
    const refused = await rejection(() => broker.issue({ profile: 'p', caller, scope: 'signature admin' }));
    expect(refused.code).toBe('ERR_SCOPE_NOT_ALLOWED');
    expect(as.requestCount()).toBe(1);
  });

  it('keeps the written order in the assertion scope claim too', async () => {
    const as = await devServer({ exactScope: 'signature impersonation' });
    const broker = harnessBroker(config(as.tokenUrl, { scopeIn: 'assertion' }));
    await broker.issue({ profile: 'p', caller });
    expect(as.requests.map((r) => r.status)).toEqual([200]);
  });
});

describe('consent detection by default', () => {
  it('answers 409 consent_required for a profile without a preset, naming authUri and redirectUri', async () => {
    const as = await devServer({ requireConsent: true });
    const broker = harnessBroker(config(as.tokenUrl));
    const handler = createTokenHandler({ broker, logger: capturingLogger() });
    const res = await handler(
      apiEvent({ body: JSON.stringify({ profile: 'p' }), userArn: caller.id }),
      lambdaContext(),
    );
    expect(res.statusCode).toBe(409);
    expect(JSON.parse(res.body as string)).toEqual({
      error: 'consent_required',
      message: `profile "p" needs the user's consent for subject "${SUBJECT}" but has no consent step; set authUri and redirectUri (the provider's consent page, the broker's /consent/callback URL), then open the consent URL once`,
      provider_error: 'consent_required',
      error_description: 'the user has not consented to client client-p',
    });
    expect(as.requestCount()).toBe(1);
  });

  it('treats interaction_required (OpenID Connect Core 3.1.2.6) as consent too, with the consent URL when there is a step', async () => {
    const { startFaultServer, json } = await import('./support/fault-server.ts');
    const endpoint = await startFaultServer([json(400, { error: 'interaction_required' })]);
    try {
      const broker = harnessBroker(
        config(endpoint.url, {
          authUri: 'https://idp.example.com/authorize',
          redirectUri: 'https://broker.example.com:443/consent/callback',
        }),
        {
          consentUrl: (profile, subject) =>
            `https://broker.example.com/consent/${profile}?subject=${subject}`,
        },
      );
      const err = await rejection(() => broker.issue({ profile: 'p', caller }));
      expect(err.code).toBe('ERR_CONSENT_REQUIRED');
      expect(err.message).toBe(
        `profile "p" needs the user's consent for subject "${SUBJECT}"; open the consent URL once, then retry`,
      );
      expect(err.details['consent_url']).toBe(`https://broker.example.com/consent/p?subject=${SUBJECT}`);
      expect(endpoint.count()).toBe(1);
    } finally {
      await endpoint.close();
    }
  });
});

describe('clock skew remembered', () => {
  it('costs one rejected request once: 3 misses after one skew cost 4 upstream requests, not 6', async () => {
    let ours = 1_900_000_000_000;
    const providerAhead = 10 * 60_000;
    const as = await devServer({}, () => ours + providerAhead);
    const broker = harnessBroker(config(as.tokenUrl), { clock: () => ours });
    for (const subject of ['a@example.com', 'b@example.com', 'c@example.com']) {
      await broker.issue({ profile: 'p', caller, subject });
    }
    expect(as.requests.map((r) => [r.status, r.error, r.subject])).toEqual([
      [400, 'invalid_grant', undefined],
      [200, undefined, 'a@example.com'],
      [200, undefined, 'b@example.com'],
      [200, undefined, 'c@example.com'],
    ]);
    // Past the memory's bound the offset is measured again, at the price of one rejection.
    ours += SKEW_MEMORY_MS + 1;
    await broker.issue({ profile: 'p', caller, subject: 'd@example.com' });
    expect(as.requests.slice(4).map((r) => r.status)).toEqual([400, 200]);
  });

  it('forgets the offset when the provider clock is put right', async () => {
    const ours = 1_900_000_000_000;
    let ahead = 10 * 60_000;
    const as = await devServer({}, () => ours + ahead);
    const broker = harnessBroker(config(as.tokenUrl), { clock: () => ours });
    await broker.issue({ profile: 'p', caller, subject: 'a@example.com' });
    ahead = 0;
    await broker.issue({ profile: 'p', caller, subject: 'b@example.com' });
    await broker.issue({ profile: 'p', caller, subject: 'c@example.com' });
    expect(as.requests.map((r) => r.status)).toEqual([400, 200, 400, 200, 200]);
  });
});

describe('provider fields passed on, by allowlist', () => {
  const SALESFORCE_FIELDS = {
    instance_url: 'https://acme.my.salesforce.com',
    id: 'https://login.salesforce.com/id/00D/005',
    signature: 'c2lnbmF0dXJl',
    issued_at: '1700000000000',
    refresh_token: 'rt-never-passed-on',
    unlisted: 'dropped',
  };

  it('carries responseFields in the 200 body under their own names, never refresh_token, and serves them from cache', async () => {
    const as = await devServer({ answer: { fields: SALESFORCE_FIELDS } });
    const broker = harnessBroker(
      config(as.tokenUrl, { responseFields: '[instance_url, id, signature, issued_at, id_token]' }),
    );
    const handler = createTokenHandler({ broker, logger: capturingLogger() });
    const event = () => apiEvent({ body: JSON.stringify({ profile: 'p' }), userArn: caller.id });
    const bodies = [];
    for (let i = 0; i < 2; i += 1) {
      const res = await handler(event(), lambdaContext());
      expect(res.statusCode).toBe(200);
      bodies.push(JSON.parse(res.body as string) as Record<string, unknown>);
    }
    expect(Object.keys(bodies[0]!).sort()).toEqual(
      [
        'access_token',
        'expires_at',
        'expires_in',
        'id',
        'instance_url',
        'issued_at',
        'scope',
        'signature',
        'token_type',
      ].sort(),
    );
    expect(bodies[0]).toMatchObject({
      instance_url: 'https://acme.my.salesforce.com',
      id: 'https://login.salesforce.com/id/00D/005',
      issued_at: '1700000000000',
    });
    expect(bodies[1]).toMatchObject({
      access_token: bodies[0]!['access_token'],
      instance_url: 'https://acme.my.salesforce.com',
    });
    expect(as.requestCount()).toBe(1);
  });

  it('uses the salesforce preset defaults and never lets a provider field replace the broker own', async () => {
    const as = await devServer({ answer: { fields: { ...SALESFORCE_FIELDS, expires_at: 1 } } });
    const broker = harnessBroker(
      config(as.tokenUrl, { provider: 'salesforce', audience: JSON.stringify(as.tokenUrl) }),
    );
    const token = await broker.issue({ profile: 'p', caller });
    expect(token.fields).toEqual({
      instance_url: SALESFORCE_FIELDS.instance_url,
      id: SALESFORCE_FIELDS.id,
      signature: SALESFORCE_FIELDS.signature,
      issued_at: SALESFORCE_FIELDS.issued_at,
    });
    expect(token.expires_at).toBeGreaterThan(1);
  });

  describe('with the sealed shared store on dynalite', () => {
    let dynalite: Dynalite;
    beforeAll(async () => {
      dynalite = await startDynalite();
      await ensureTable(dynalite.client(), 'protocol-cache');
    });
    afterAll(async () => dynalite.close());

    it('seals the fields with the token: a second broker instance serves them without asking upstream', async () => {
      const as = await devServer({ answer: { fields: SALESFORCE_FIELDS } });
      const cfg = config(as.tokenUrl, { responseFields: '[instance_url, id]' });
      const sealKey = new Uint8Array(randomBytes(32));
      const store = () =>
        createDynamoDbStore({ client: dynalite.client(), table: 'protocol-cache', sealKey });
      const one = await harnessBroker(cfg, { sharedStore: store() }).issue({ profile: 'p', caller });
      const two = await harnessBroker(cfg, { sharedStore: store() }).issue({ profile: 'p', caller });
      expect(two).toMatchObject({ access_token: one.access_token, cached: true });
      expect(two.fields).toEqual({ instance_url: SALESFORCE_FIELDS.instance_url, id: SALESFORCE_FIELDS.id });
      expect(as.requestCount()).toBe(1);
      // At rest the fields are sealed with the token, not stored in clear.
      const { ScanCommand } = await import('@aws-sdk/client-dynamodb');
      const items = await dynalite.client().send(new ScanCommand({ TableName: 'protocol-cache' }));
      expect(JSON.stringify(items.Items)).not.toContain('acme.my.salesforce.com');
    });
  });
});

describe('extra request parameters', () => {
  it('sends params with secret references resolved, and keys the cache by them', async () => {
    const as = await devServer({
      requiredParams: { box_subject_type: 'enterprise', client_secret: 'cs-from-env' },
    });
    const logger = capturingLogger();
    const yaml = { params: '{ box_subject_type: enterprise, client_secret: env:CLIENT_SECRET }' };
    const secrets = harnessSecrets({ CLIENT_SECRET: 'cs-from-env' });
    const broker = harnessBroker(config(as.tokenUrl, yaml), { secrets, logger });
    const token = await broker.issue({ profile: 'p', caller });
    expect(as.requests.map((r) => r.status)).toEqual([200]);
    expect(logger.text()).not.toContain('cs-from-env');
    const other = harnessBroker(config(as.tokenUrl, { params: '{ box_subject_type: user }' }));
    const a = broker.describe({ profile: 'p' }).key;
    const b = other.describe({ profile: 'p' }).key;
    const none = harnessBroker(config(as.tokenUrl)).describe({ profile: 'p' }).key;
    expect(new Set([a, b, none]).size).toBe(3);
    expect((await broker.issue({ profile: 'p', caller })).access_token).toBe(token.access_token);
    expect(as.requestCount()).toBe(1);
  });

  it('sends client_id in client-assertion mode when the preset asks (entra)', async () => {
    const as = await devServer({ requiredParams: { client_id: 'client-p' }, typ: 'JWT' });
    const broker = harnessBroker(
      harnessConfig({
        p: {
          issuer: 'client-p',
          tokenUrl: as.tokenUrl,
          scope: 'https://graph.microsoft.com/.default',
          callers: ['*'],
          extra: { provider: 'entra', assertion: '{ x5tS256: false }' },
        },
      }),
    );
    await broker.issue({ profile: 'p', caller });
    expect(as.requests.map((r) => [r.grant, r.status])).toEqual([['client_credentials', 200]]);
  });
});

describe('rfc7523bis', () => {
  it('signs a client assertion with typ client-authentication+jwt and aud the issuer identifier when the profile says so', async () => {
    server = await (async () => {
      const { startAuthorizationServer } = await import('../lib/dev/authorization-server.ts');
      const { harnessCertificate } = await import('./hardening/harness.ts');
      return startAuthorizationServer({
        clients: [
          { clientId: 'client-p', certificatePem: harnessCertificate(), typ: 'client-authentication+jwt' },
        ],
        audience: ['issuer'],
      });
    })();
    const as = server;
    const strict = (typ?: string) =>
      harnessBroker(
        harnessConfig({
          p: {
            issuer: 'client-p',
            tokenUrl: as.tokenUrl,
            callers: ['*'],
            extra: {
              grant: 'client-assertion',
              audience: JSON.stringify(as.url),
              ...(typ !== undefined && { assertion: `{ typ: ${typ} }` }),
            },
          },
        }),
      );
    const refused = await rejection(() => strict().issue({ profile: 'p', caller }));
    expect(refused.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(refused.message).toBe(
      'the token endpoint refused the request (HTTP 401): invalid_client (the assertion typ header must be "client-authentication+jwt")',
    );
    await strict('client-authentication+jwt').issue({ profile: 'p', caller });
    // invalid_client reopens the key material; the key did not change, so it is not sent again.
    expect(as.requests.map((r) => r.status)).toEqual([401, 200]);
  });
});

describe('strict answers', () => {
  it('logs a wider granted scope with a metric, and refuses it with scopeCheck: strict', async () => {
    const as = await devServer({ answer: { scope: 'signature impersonation admin' } });
    const logger = capturingLogger();
    const metrics = countingMetrics();
    const lenient = harnessBroker(config(as.tokenUrl), { logger, metrics });
    const token = await lenient.issue({ profile: 'p', caller });
    expect(token.scope).toBe('signature impersonation admin');
    expect(metrics.counts.UpstreamScopeWidened).toBe(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'token endpoint granted a wider scope than asked',
        fields: { profile: 'p', subject: SUBJECT, asked: 'signature impersonation', beyond: 'admin' },
      },
    ]);
    const strict = harnessBroker(config(as.tokenUrl, { scopeCheck: 'strict' }));
    const err = await rejection(() => strict.issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(err.message).toBe(
      'the token endpoint granted scope "admin" beyond the "signature impersonation" asked for, and profile "p" has scopeCheck: strict; narrow the client\'s grants at the provider or set scopeCheck: lenient',
    );
    expect(as.requestCount()).toBe(2);
  });

  it('refuses token_type mac unless tokenType: any', async () => {
    const as = await devServer({ answer: { tokenType: 'mac' } });
    const err = await rejection(() => harnessBroker(config(as.tokenUrl)).issue({ profile: 'p', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(err.message).toBe(
      'the token endpoint answered token_type "mac", not Bearer (HTTP 200, application/json); set tokenType: any on the profile if callers can use it',
    );
    const any = await harnessBroker(config(as.tokenUrl, { tokenType: 'any' })).issue({
      profile: 'p',
      caller,
    });
    expect(any.token_type).toBe('mac');
    expect(as.requestCount()).toBe(2);
  });
});

describe('a deadline on the proof grant (the consent callback)', () => {
  it('ends the exchange by the deadline given, against a provider that never answers', async () => {
    const { startFaultServer, hang } = await import('./support/fault-server.ts');
    const { ATTEMPT_TIMEOUT_MS } = await import('../lib/exchange/retry.ts');
    const endpoint = await startFaultServer([hang]);
    try {
      const broker = harnessBroker(config(endpoint.url));
      const started = Date.now();
      const err = await rejection(() =>
        broker.refresh({ profile: 'p', subject: SUBJECT, force: true, deadlineAt: started + 200 }),
      );
      const took = Date.now() - started;
      expect(err.code).toMatch(/^ERR_UPSTREAM_(TIMEOUT|UNAVAILABLE)$/);
      // Cut to the deadline, not to the exchange's own attempt timeout (15 s) or deadline (25 s).
      expect(took).toBeLessThan(ATTEMPT_TIMEOUT_MS / 5);
      expect(endpoint.count()).toBe(1);
    } finally {
      await endpoint.close();
    }
  });
});
