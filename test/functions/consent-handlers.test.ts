/**
 * The consent routes as Lambda handlers, with API Gateway v2 events, against the local
 * authorization server (real consent page, real code redemption, real JWT grant).
 */
import { dirname } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConsentCallbackHandler } from '../../functions/consent-callback.ts';
import { createConsentStartHandler } from '../../functions/consent-start.ts';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { consentUrlBuilder } from '../../lib/consent/base-url.ts';
import { CONSENT_PAGE_CSP } from '../../lib/consent/page.ts';
import { setupConsent } from '../../lib/consent/setup.ts';
import { createMemoryConsentStore, type ConsentStore } from '../../lib/consent/store.ts';
import { START_REFUSED_MESSAGE } from '../../lib/consent/flow.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import type { HttpEvent, HttpResult } from '../../lib/http/event.ts';
import type { HttpHandler } from '../../lib/http/stack.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { silentLogger } from '../../lib/types.ts';
import { CLIENT_ID, CLIENT_SECRET, consentConfig, demoCertificate } from '../consent/fixtures.ts';
import { apiEvent, lambdaContext } from './events.ts';
import { approveAtProvider } from '../support/consent-approval.ts';

const BROKER = 'https://broker.example.com:443';
const CALLBACK = `${BROKER}/consent/callback`;
const ALICE = 'alice@example.com';

let authorization: AuthorizationServer;
let config: BrokerConfig;
let broker: TokenBroker;
let store: ConsentStore;
let offset = 0;
let start: HttpHandler;
let callback: HttpHandler;

function event(routeKey: string, parts: Partial<HttpEvent>): HttpEvent {
  const base = apiEvent({ routeKey, headers: { Accept: 'text/html' } });
  return { ...base, headers: { accept: 'text/html', host: 'broker.example.com' }, ...parts };
}

const startEvent = (profile: string, query: Record<string, string>): HttpEvent =>
  event('GET /consent/{profile}', {
    rawPath: `/consent/${profile}`,
    pathParameters: { profile },
    queryStringParameters: query,
  });

const callbackEvent = (query: Record<string, string>, cookies?: string[]): HttpEvent =>
  event('GET /consent/callback', {
    rawPath: '/consent/callback',
    queryStringParameters: query,
    ...(cookies ? { cookies } : {}),
  });

function build(options: { withSecret?: boolean } = {}): void {
  const secrets = createSecretResolver({ env: {}, cwd: dirname(config.source) });
  broker = createBroker({ config, secrets, consentUrl: consentUrlBuilder(config) });
  store = createMemoryConsentStore();
  const flow = setupConsent({
    config: options.withSecret === false ? withoutSecret(config) : config,
    broker,
    secrets,
    ephemeralStateKey: true,
    store,
    clock: () => Date.now() + offset,
  });
  start = createConsentStartHandler({ flow, logger: silentLogger });
  callback = createConsentCallbackHandler({ flow, logger: silentLogger });
}

function withoutSecret(c: BrokerConfig): BrokerConfig {
  return {
    ...c,
    profiles: { ...c.profiles, consent: { ...c.profiles['consent']!, clientSecret: undefined } },
  };
}

const call = (handler: HttpHandler, e: HttpEvent): Promise<HttpResult> => handler(e, lambdaContext());

/** `POST /token` for ALICE on the consent profile, as an IAM caller. */
const requestToken = (): Promise<HttpResult> =>
  call(
    createTokenHandler({ broker, logger: silentLogger }),
    apiEvent({
      body: JSON.stringify({ profile: 'consent', subject: ALICE }),
      userArn: 'arn:aws:iam::123456789012:role/app',
    }),
  );

/** Starts consent, approves at the provider as `login`, and returns the callback's query and cookie. */
async function approve(
  login = ALICE,
  decision = 'approve',
): Promise<{ query: Record<string, string>; cookie: string; location: URL }> {
  const started = await call(start, startEvent('consent', { subject: ALICE }));
  expect(started.statusCode).toBe(302);
  const location = new URL(started.headers['Location']!);
  const cookie = started.cookies![0]!.split(';')[0]!;
  const res = await approveAtProvider(location, login, decision);
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(new URL(CALLBACK).href);
  return { query: Object.fromEntries(back.searchParams), cookie, location };
}

beforeAll(async () => {
  authorization = await startAuthorizationServer({
    clients: [
      {
        clientId: CLIENT_ID,
        certificatePem: await demoCertificate(),
        requireConsent: true,
        redirectUris: [CALLBACK],
        clientSecret: CLIENT_SECRET,
      },
    ],
    audience: ['token-broker-test'],
  });
  config = await consentConfig({
    tokenUrl: authorization.tokenUrl,
    authorizeUrl: authorization.authorizeUrl,
    brokerUrl: BROKER,
  });
});
afterAll(() => authorization.close());
beforeEach(() => {
  offset = 0;
  authorization.revokeConsent(CLIENT_ID, ALICE);
  authorization.resetRequests();
  build();
});

describe('GET /consent/{profile}', () => {
  it('redirects to the configured authUri with code, client, exact redirect_uri, scope, state and S256', async () => {
    const res = await call(start, startEvent('consent', { subject: ALICE }));
    expect(res.statusCode).toBe(302);
    const location = new URL(res.headers['Location']!);
    expect(`${location.origin}${location.pathname}`).toBe(authorization.authorizeUrl);
    expect(location.searchParams.get('response_type')).toBe('code');
    expect(location.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(location.searchParams.get('redirect_uri')).toBe(CALLBACK);
    expect(location.searchParams.get('scope')).toBe('read write');
    expect(location.searchParams.get('state')).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(res.cookies).toHaveLength(1);
    expect(res.cookies![0]).toMatch(
      /^tb_consent=[\w-]{43}; Path=\/consent\/callback; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/,
    );
    expect(res.headers['Cache-Control']).toBe('no-store');
  });

  it('never redirects anywhere but the authUri, whatever the query carries', async () => {
    const res = await call(
      start,
      startEvent('consent', {
        subject: ALICE,
        redirect_uri: 'https://evil.example/steal',
        next: 'https://evil.example/',
        authUri: 'https://evil.example/',
      }),
    );
    const location = new URL(res.headers['Location']!);
    expect(location.origin).toBe(new URL(authorization.authorizeUrl).origin);
    expect(location.searchParams.get('redirect_uri')).toBe(CALLBACK);
    expect(res.headers['Location']).not.toContain('evil');
  });

  it.each([
    ['a profile the config does not define', 'nope', ALICE],
    ['a subject the profile does not allow', 'consent', 'mallory@evil.example'],
    ['a profile without a consent step', 'plain', ALICE],
    ['a subject with a bidi override', 'consent', 'alice\u202e@example.com'],
  ])('answers %s with the one 404 every start refusal gets', async (_name, profile, subject) => {
    const res = await call(start, startEvent(profile, { subject }));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ error: 'unknown_profile', message: START_REFUSED_MESSAGE });
    expect(res.headers['Location']).toBeUndefined();
    expect(res.cookies ?? []).toEqual([]);
  });
});

describe('GET /consent/callback', () => {
  it('redeems the code, proves the JWT grant, records the consent and says so', async () => {
    const { query, cookie } = await approve();
    const res = await call(callback, callbackEvent(query, [cookie]));
    expect(res.statusCode).toBe(200);
    expect(res.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(res.headers['Content-Security-Policy']).toBe(CONSENT_PAGE_CSP);
    expect(res.body).toContain('data-outcome="granted"');
    expect(res.body).toContain('Consent recorded');
    expect(res.body).not.toContain(query['code']);
    expect(res.body).not.toContain(query['state']);
    expect(res.cookies).toEqual([
      'tb_consent=; Path=/consent/callback; Max-Age=0; HttpOnly; Secure; SameSite=Lax',
    ]);
    expect(authorization.requests.map((r) => `${r.grant}:${r.status}`)).toEqual([
      'authorization_code:200',
      'urn:ietf:params:oauth:grant-type:jwt-bearer:200',
    ]);
    expect((await store.latest('consent', ALICE))?.outcome).toBe('granted');
    // The token the callback obtained is served to callers from the cache.
    const issued = await requestToken();
    expect(issued.statusCode).toBe(200);
    expect(authorization.requestCount()).toBe(2);
  });

  it('refuses a replayed state', async () => {
    const { query, cookie } = await approve();
    expect((await call(callback, callbackEvent(query, [cookie]))).statusCode).toBe(200);
    const again = await call(callback, callbackEvent(query, [cookie]));
    expect(again.statusCode).toBe(400);
    expect(again.body).toContain('Consent link is not valid: it was already used; start the consent again.');
  });

  it('refuses a tampered state', async () => {
    const { query, cookie } = await approve();
    const [v, payload, sig] = query['state']!.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    claims['subject'] = 'mallory@example.com';
    const forged = `${v}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    const res = await call(callback, callbackEvent({ ...query, state: forged }, [cookie]));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain(
      'Consent link is not valid: state signature does not match; start the consent again.',
    );
    expect(authorization.requests.filter((r) => r.grant === 'authorization_code')).toHaveLength(0);
  });

  it('refuses an expired state', async () => {
    const { query, cookie } = await approve();
    offset = 10 * 60 * 1000 + 1;
    const res = await call(callback, callbackEvent(query, [cookie]));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('Consent link is not valid: state has expired; start the consent again.');
  });

  it('refuses a state presented with another browser’s cookie, or none', async () => {
    const { query } = await approve();
    const other = await call(start, startEvent('consent', { subject: ALICE }));
    const wrong = await call(callback, callbackEvent(query, [other.cookies![0]!.split(';')[0]!]));
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain(
      'Consent link is not valid: state was started in another browser; start the consent again.',
    );
    const none = await call(callback, callbackEvent(query));
    expect(none.statusCode).toBe(400);
    expect(none.body).toContain('the consent cookie is missing (was consent started in this browser?)');
  });

  it('answers 400 when the provider sends no code', async () => {
    const { query, cookie } = await approve();
    const res = await call(callback, callbackEvent({ state: query['state']! }, [cookie]));
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('The provider sent no authorization code; start the consent again.');
    expect((await store.latest('consent', ALICE))?.outcome).toBe('ERR_INVALID_REQUEST');
  });

  it('shows the provider’s refusal, escaped, and records it', async () => {
    const { query, cookie } = await approve(ALICE, 'deny');
    expect(query['error']).toBe('access_denied');
    const res = await call(
      callback,
      callbackEvent(
        {
          state: query['state']!,
          error: 'access_denied',
          error_description: '<script>alert(1)</script> "x"',
        },
        [cookie],
      ),
    );
    expect(res.statusCode).toBe(400);
    expect(res.body).not.toContain('<script>');
    expect(res.body).toContain(
      'The provider answered &quot;access_denied&quot;: &lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot;.',
    );
    expect(res.headers['Content-Security-Policy']).toBe(CONSENT_PAGE_CSP);
    expect((await store.latest('consent', ALICE))?.outcome).toBe('ERR_CONSENT_DENIED');
    expect(authorization.hasConsent(CLIENT_ID, ALICE)).toBe(false);
  });

  it('says consent is not effective when the user approved as someone else', async () => {
    const { query, cookie } = await approve('bob@example.com');
    const res = await call(callback, callbackEvent(query, [cookie]));
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('Consent is not effective yet');
    expect(res.body).toContain(
      `Make sure you signed in at the provider as ${ALICE}, then start the consent again.`,
    );
  });

  it('shows the provider’s refusal of the code exchange (a code used twice)', async () => {
    const { query, cookie } = await approve();
    // Redeem the code first, so the broker's exchange finds it used.
    await fetch(authorization.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: query['code']!,
        redirect_uri: CALLBACK,
      }),
    });
    const res = await call(callback, callbackEvent(query, [cookie]));
    expect(res.statusCode).toBe(502);
    expect(res.body).toContain('The provider refused the request');
    expect(res.body).toContain('invalid_grant');
  });

  it('skips the code exchange when no client secret is configured', async () => {
    build({ withSecret: false });
    const { query, cookie } = await approve();
    const res = await call(callback, callbackEvent(query, [cookie]));
    expect(res.statusCode).toBe(200);
    expect(authorization.requests.map((r) => r.grant)).toEqual([
      'urn:ietf:params:oauth:grant-type:jwt-bearer',
    ]);
  });
});

describe('POST /token before consent', () => {
  it('answers 409 consent_required with the broker’s consent URL for the profile and subject', async () => {
    const res = await requestToken();
    expect(res.statusCode).toBe(409);
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body['error']).toBe('consent_required');
    expect(body['message']).toBe(
      `profile "consent" needs the user's consent for subject "${ALICE}"; open the consent URL once, then retry`,
    );
    expect(body['consent_url']).toBe(`${BROKER}/consent/consent?subject=alice%40example.com`);
  });
});
