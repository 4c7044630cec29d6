/**
 * RFC 8693 token exchange through the broker, with the profile's keystore-signed JWT as the
 * subject token, against the development authorization server on 127.0.0.1. Upstream
 * requests are counted throughout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { cacheKey, digestOf } from '../../lib/cache/key.ts';
import type { AuthorizationServer, DevClient } from '../../lib/dev/authorization-server.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { harnessBroker, harnessConfig, startDevServer } from '../hardening/harness.ts';
import { capturingLogger, rejection } from '../hardening/support.ts';

const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
const SUBJECT = 'alice@example.com';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

let server: AuthorizationServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function devServer(client: Omit<DevClient, 'certificatePem' | 'clientId'> = {}) {
  server = await startDevServer([{ clientId: 'client-x', ...client }]);
  return server;
}

/** A keystore profile `x` with `grant: token-exchange` and the given `tokenExchange` (YAML). */
function config(tokenUrl: string, tokenExchange?: string, extra: Record<string, string> = {}) {
  return harnessConfig({
    x: {
      issuer: 'client-x',
      tokenUrl,
      subject: SUBJECT,
      subjects: ['*@example.com'],
      scope: 'read write',
      callers: ['*'],
      extra: { grant: 'token-exchange', ...(tokenExchange && { tokenExchange }), ...extra },
    },
  });
}

const TARGETED =
  '{ requestedTokenType: "urn:ietf:params:oauth:token-type:access_token", audience: [billing, ledger], resource: ["https://api.example.com/v1", "https://api.example.com/v2"] }';

describe('a keystore profile with grant: token-exchange', () => {
  it('gets a token for its subject, and sends exactly the RFC 8693 §2.1 parameters', async () => {
    const as = await devServer();
    const broker = harnessBroker(config(as.tokenUrl, TARGETED));
    const token = await broker.issue({ profile: 'x', caller, scope: 'read' });
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'read', cached: false });
    expect(token.expires_in).toBeGreaterThan(3590);
    expect(as.requests.map((r) => [r.grant, r.clientId, r.subject, r.status])).toEqual([
      ['urn:ietf:params:oauth:grant-type:token-exchange', 'client-x', SUBJECT, 200],
    ]);
    expect(as.exchanges).toEqual([
      {
        clientId: 'client-x',
        subject: SUBJECT,
        subjectTokenType: JWT_TYPE,
        requestedTokenType: ACCESS_TOKEN_TYPE,
        audience: ['billing', 'ledger'],
        resource: ['https://api.example.com/v1', 'https://api.example.com/v2'],
        scope: 'read',
        parameters: [
          'grant_type',
          'subject_token',
          'subject_token_type',
          'requested_token_type',
          'audience',
          'audience',
          'resource',
          'resource',
          'scope',
        ],
      },
    ]);
    expect(as.introspect(token.access_token)).toMatchObject({
      clientId: 'client-x',
      subject: SUBJECT,
      scope: 'read',
      audience: ['billing', 'ledger'],
      resource: ['https://api.example.com/v1', 'https://api.example.com/v2'],
    });
  });

  it('sends only grant_type, subject_token, subject_token_type and scope when nothing else is set, plus the profile params', async () => {
    const as = await devServer({ requiredParams: { client_id: 'client-x' } });
    const broker = harnessBroker(config(as.tokenUrl, undefined, { params: '{ client_id: client-x }' }));
    await broker.issue({ profile: 'x', caller });
    expect(as.exchanges.map((e) => e.parameters)).toEqual([
      ['grant_type', 'subject_token', 'subject_token_type', 'scope', 'client_id'],
    ]);
    expect(as.exchanges[0]).toMatchObject({ scope: 'read write', audience: [], resource: [] });
  });

  it('makes one upstream call for 10 concurrent callers, and serves the next from cache', async () => {
    const as = await devServer();
    const broker = harnessBroker(config(as.tokenUrl, TARGETED));
    const tokens = await Promise.all(
      Array.from({ length: 10 }, () => broker.issue({ profile: 'x', caller })),
    );
    expect(new Set(tokens.map((t) => t.access_token)).size).toBe(1);
    expect(as.requestCount()).toBe(1);
    const again = await broker.issue({ profile: 'x', caller });
    expect(again).toMatchObject({ access_token: tokens[0]!.access_token, cached: true });
    expect(as.requestCount()).toBe(1);
  });

  it('answers 200 through the token handler, never passing on refresh_token, and issued_token_type only by allowlist', async () => {
    const as = await devServer({ answer: { fields: { refresh_token: 'rt-never-passed-on', extra: 1 } } });
    const broker = harnessBroker(config(as.tokenUrl, TARGETED, { responseFields: '[issued_token_type]' }));
    const logger = capturingLogger();
    const handler = createTokenHandler({ broker, logger });
    const res = await handler(
      apiEvent({ body: JSON.stringify({ profile: 'x' }), userArn: caller.id }),
      lambdaContext(),
    );
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body as string) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      ['access_token', 'expires_at', 'expires_in', 'issued_token_type', 'scope', 'token_type'].sort(),
    );
    expect(body).toMatchObject({ token_type: 'Bearer', issued_token_type: ACCESS_TOKEN_TYPE });
    expect(res.body).not.toContain('rt-never-passed-on');
    expect(logger.text()).not.toContain('rt-never-passed-on');
    expect(as.requestCount()).toBe(1);
  });
});

describe('token exchange answers that break RFC 8693 §2.2', () => {
  it('refuses an answer without issued_token_type as ERR_UPSTREAM_INVALID_RESPONSE, and caches nothing', async () => {
    const as = await devServer({ tokenExchange: { issuedTokenType: null } });
    const broker = harnessBroker(config(as.tokenUrl));
    for (let i = 0; i < 2; i += 1) {
      const err = await rejection(() => broker.issue({ profile: 'x', caller }));
      expect(err.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
      expect(err.message).toBe(
        'the token endpoint answered a token exchange without an issued_token_type string (HTTP 200, application/json), which RFC 8693 §2.2.1 requires; check that tokenUri is a token exchange endpoint',
      );
    }
    expect(as.requestCount()).toBe(2);
  });

  it('refuses an issued_token_type other than the requested one', async () => {
    const as = await devServer({
      tokenExchange: { issuedTokenType: 'urn:ietf:params:oauth:token-type:id_token' },
    });
    const broker = harnessBroker(config(as.tokenUrl, TARGETED));
    const err = await rejection(() => broker.issue({ profile: 'x', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(err.message).toBe(
      'the token endpoint issued a token of type "urn:ietf:params:oauth:token-type:id_token", not the "urn:ietf:params:oauth:token-type:access_token" requested (HTTP 200, application/json); set tokenExchange.requestedTokenType to a type the provider issues',
    );
    expect(as.requestCount()).toBe(1);
  });

  it('takes any issued_token_type when none was requested', async () => {
    const as = await devServer({
      tokenExchange: { issuedTokenType: 'urn:ietf:params:oauth:token-type:jwt' },
    });
    const broker = harnessBroker(config(as.tokenUrl));
    await expect(broker.issue({ profile: 'x', caller })).resolves.toMatchObject({ token_type: 'Bearer' });
  });

  it('refuses token_type N_A unless the profile says tokenType: any', async () => {
    const as = await devServer({
      answer: { tokenType: 'N_A' },
      tokenExchange: { issuedTokenType: 'urn:ietf:params:oauth:token-type:jwt' },
    });
    const err = await rejection(() => harnessBroker(config(as.tokenUrl)).issue({ profile: 'x', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(err.message).toBe(
      'the token endpoint answered token_type "N_A" (HTTP 200, application/json): the issued token is not an access token (RFC 8693 §2.2.1); set tokenType: any on the profile if callers can use it',
    );
    const any = harnessBroker(config(as.tokenUrl, undefined, { tokenType: 'any' }));
    await expect(any.issue({ profile: 'x', caller })).resolves.toMatchObject({ token_type: 'N_A' });
    expect(as.requestCount()).toBe(2);
  });
});

describe('token exchange errors (RFC 8693 §2.2.2)', () => {
  it('maps invalid_target to 502 upstream_rejected with the provider error, through the token handler', async () => {
    const as = await devServer({ tokenExchange: { audiences: ['billing'] } });
    const broker = harnessBroker(config(as.tokenUrl, '{ audience: [billing, ledger] }'));
    const handler = createTokenHandler({ broker, logger: capturingLogger() });
    const res = await handler(
      apiEvent({ body: JSON.stringify({ profile: 'x' }), userArn: caller.id }),
      lambdaContext(),
    );
    expect(res.statusCode).toBe(502);
    expect(JSON.parse(res.body as string)).toEqual({
      error: 'upstream_rejected',
      message:
        'the token endpoint refused the request (HTTP 400): invalid_target (no token is issued for ledger)',
      provider_error: 'invalid_target',
      error_description: 'no token is issued for ledger',
    });
    expect(as.requestCount()).toBe(1);
  });

  it('maps a refused subject_token_type (invalid_request) to ERR_UPSTREAM_REJECTED with the provider text', async () => {
    const as = await devServer();
    const typed = harnessBroker(
      config(as.tokenUrl, '{ subjectTokenType: "urn:ietf:params:oauth:token-type:id_token" }'),
    );
    const err = await rejection(() => typed.issue({ profile: 'x', caller }));
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(err.message).toBe(
      'the token endpoint refused the request (HTTP 400): invalid_request (subject_token_type "urn:ietf:params:oauth:token-type:id_token" is not supported)',
    );
    expect(as.requestCount()).toBe(1);
  });
});

describe('cache keys of token exchange profiles', () => {
  const key = (tokenExchange: string | undefined) =>
    harnessBroker(config('https://sts.example.com/token', tokenExchange)).describe({ profile: 'x' }).key;

  it('differ by audience, resource, requested type and subject token type', () => {
    const keys = [
      key(undefined),
      key('{ audience: billing }'),
      key('{ audience: ledger }'),
      key('{ audience: [billing, ledger] }'),
      key('{ resource: "https://api.example.com/v1" }'),
      key(`{ requestedTokenType: "${ACCESS_TOKEN_TYPE}" }`),
      key('{ subjectTokenType: "urn:ietf:params:oauth:token-type:id_token" }'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    expect(key('{ audience: billing }')).toBe(key('{ audience: [billing] }'));
  });

  it('leave the key of an existing jwt-bearer profile as it was (no miss on upgrade)', () => {
    const profiles = harnessConfig({
      plain: { issuer: 'client-1', tokenUrl: 'https://auth.example.com/oauth/token', subject: SUBJECT },
      tuned: {
        issuer: 'client-1',
        tokenUrl: 'https://auth.example.com/oauth/token',
        subject: SUBJECT,
        scope: 'a b',
        extra: { headers: '{ X-Tenant: acme }', params: '{ audience: "https://api.example.com" }' },
      },
    });
    const broker = harnessBroker(profiles);
    for (const name of ['plain', 'tuned']) {
      const profile = profiles.profiles[name]!;
      const { key: now, descriptor } = broker.describe({ profile: name });
      // The variant as it was made before token exchange existed: headers and params only.
      const before = digestOf({
        headers: Object.fromEntries(Object.entries(profile.headers).map(([n, v]) => [n.toLowerCase(), v])),
        params: profile.params,
      });
      expect(descriptor.variant).toBe(before);
      expect(now).toBe(cacheKey({ ...descriptor, variant: before }));
    }
    // The keys the released code (before token exchange) made for these two profiles.
    expect(broker.describe({ profile: 'plain' }).key).toBe(
      '6369f0b8dfe2589a4598f8bce0c42072c24f8a7b0840ae4aba4e4746a39c67a4',
    );
    expect(broker.describe({ profile: 'tuned' }).key).toBe(
      '96732be0e1568d2ac0c5ba88295a2a08796845879231ee1d86689ac0ede1ed1e',
    );
  });
});
