/**
 * Bad provider answers, table-driven against the scripted fault server on 127.0.0.1:
 * each row is what a provider sends, the exact code and message the broker gives (and
 * its HTTP status), and how many upstream requests it cost. The broker's log and the
 * caller's body never carry the assertion.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import { type ErrorCode } from '../../lib/errors.ts';
import { SKEW_THRESHOLD_MS } from '../../lib/exchange/skew.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import {
  json,
  startFaultServer,
  tokenAnswer,
  type FaultServer,
  type FaultStep,
} from '../support/fault-server.ts';
import { harnessBroker, harnessConfig } from './harness.ts';
import { capturingLogger, rejection } from './support.ts';

const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
const OURS = 1_900_000_000_000;
/** The provider's clock, ten minutes ahead of ours. */
const AHEAD = OURS + 10 * 60_000;

let endpoint: FaultServer;
beforeAll(async () => {
  endpoint = await startFaultServer([tokenAnswer()]);
});
afterAll(async () => endpoint.close());
afterEach(() => endpoint.answer(tokenAnswer()));

const assertionsSent = (): string[] =>
  endpoint.bodies.map((body) => new URLSearchParams(body).get('assertion') ?? '').filter(Boolean);

/** The assertion the endpoint receives, echoed back in a 400 (a provider quoting what it refused). */
const echoAssertion =
  (shape: (jwt: string) => string): FaultStep =>
  (_req, res, body) => {
    const jwt = new URLSearchParams(body).get('assertion') ?? '';
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_grant', error_description: shape(jwt) }));
  };

interface Row {
  readonly name: string;
  /** Profile keys beside the harness's (YAML values). */
  readonly profile?: Readonly<Record<string, string>>;
  readonly answers: readonly FaultStep[];
  readonly code: ErrorCode;
  readonly message: string | RegExp;
  /** Upstream requests the call cost. */
  readonly requests: number;
  readonly details?: Readonly<Record<string, unknown>>;
}

const ROWS: Row[] = [
  {
    name: 'a JWS echoed whole in error_description',
    answers: [echoAssertion((jwt) => `assertion ${jwt} is not acceptable`)],
    code: 'ERR_UPSTREAM_REJECTED',
    message:
      'the token endpoint refused the request (HTTP 400): invalid_grant (assertion [redacted] is not acceptable)',
    requests: 1,
  },
  {
    name: 'the assertion signature alone echoed',
    answers: [echoAssertion((jwt) => `bad signature: ${jwt.split('.')[2]}`)],
    code: 'ERR_UPSTREAM_REJECTED',
    message: 'the token endpoint refused the request (HTTP 400): invalid_grant (bad signature: [redacted])',
    requests: 1,
  },
  {
    name: 'someone else’s JWT quoted in error_description',
    answers: [
      json(400, {
        error: 'invalid_grant',
        error_description:
          'token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlc2lnbmF0dXJl was revoked',
      }),
    ],
    code: 'ERR_UPSTREAM_REJECTED',
    message:
      'the token endpoint refused the request (HTTP 400): invalid_grant (token [redacted] was revoked)',
    requests: 1,
  },
  {
    name: 'token_type mac',
    answers: [tokenAnswer('tok-mac', { token_type: 'mac' })],
    code: 'ERR_UPSTREAM_INVALID_RESPONSE',
    message:
      'the token endpoint answered token_type "mac", not Bearer (HTTP 200, application/json); set tokenType: any on the profile if callers can use it',
    requests: 1,
  },
  {
    name: 'a granted scope wider than asked, with scopeCheck: strict',
    profile: { scopeCheck: 'strict' },
    answers: [tokenAnswer('tok-wide', { scope: 'read write admin' })],
    code: 'ERR_UPSTREAM_INVALID_RESPONSE',
    message:
      'the token endpoint granted scope "admin" beyond the "read write" asked for, and profile "p" has scopeCheck: strict; narrow the client\'s grants at the provider or set scopeCheck: lenient',
    requests: 1,
  },
  {
    name: 'Retry-After: 30 on 503, beyond the 4 s deadline',
    answers: [json(503, {}, { 'retry-after': '30' })],
    code: 'ERR_UPSTREAM_UNAVAILABLE',
    message:
      /^the token endpoint http:\/\/127\.0\.0\.1:\d+\/token answered HTTP 503 asking to retry after 30 s, beyond the time left for this request \(1 attempt\); retry after 30 s$/,
    requests: 1,
    details: { status: 503, retry_after: 30 },
  },
  {
    name: 'Retry-After: 999999 on 429, passed on capped at one hour',
    answers: [json(429, { error: 'slow_down' }, { 'retry-after': '999999' })],
    code: 'ERR_UPSTREAM_UNAVAILABLE',
    message:
      /answered HTTP 429 asking to retry after 999999 s, beyond the time left for this request \(1 attempt\); retry after 3600 s$/,
    requests: 1,
    details: { status: 429, retry_after: 3600 },
  },
  {
    name: 'a consent_required answer for a profile without a consent step',
    answers: [json(400, { error: 'consent_required', error_description: 'consent needed' })],
    code: 'ERR_CONSENT_REQUIRED',
    message:
      'profile "p" needs the user\'s consent for subject "alice@example.com" but has no consent step; set authUri and redirectUri (the provider\'s consent page, the broker\'s /consent/callback URL), then open the consent URL once',
    requests: 1,
  },
];

function brokerFor(extra: Readonly<Record<string, string>> = {}, logger = capturingLogger()) {
  const config = harnessConfig({
    p: {
      issuer: 'client-a',
      tokenUrl: endpoint.url,
      subject: 'alice@example.com',
      scope: 'read write',
      callers: ['*'],
      extra,
    },
  });
  return { broker: harnessBroker(config, { logger, clock: () => OURS }), logger };
}

describe('bad provider answers', () => {
  it.each(ROWS)('$name', async (row) => {
    endpoint.answer(...row.answers);
    const before = endpoint.count();
    const { broker, logger } = brokerFor(row.profile);
    const err = await rejection(() => broker.issue({ profile: 'p', caller }));
    expect(err.code).toBe(row.code);
    if (typeof row.message === 'string') expect(err.message).toBe(row.message);
    else expect(err.message).toMatch(row.message);
    expect(HTTP_ERRORS[err.code].status).toBe(
      row.code === 'ERR_CONSENT_REQUIRED' ? 409 : err.code === 'ERR_UPSTREAM_UNAVAILABLE' ? 503 : 502,
    );
    if (row.details) expect(err.details).toMatchObject(row.details);
    expect(endpoint.count() - before).toBe(row.requests);
    const said = `${err.message} ${JSON.stringify(err.details)} ${logger.text()}`;
    for (const jwt of assertionsSent()) {
      expect(said).not.toContain(jwt);
      expect(said).not.toContain(jwt.split('.')[2]);
    }
  });

  it('answers the caller 503 with a Retry-After header at once for Retry-After: 30, and 3600 for 999999', async () => {
    for (const [asked, told] of [
      ['30', '30'],
      ['999999', '3600'],
    ] as const) {
      endpoint.answer(json(503, {}, { 'retry-after': asked }));
      const before = endpoint.count();
      const handler = createTokenHandler({ broker: brokerFor().broker, logger: capturingLogger() });
      const res = await handler(
        apiEvent({ body: JSON.stringify({ profile: 'p' }), userArn: caller.id }),
        lambdaContext(),
      );
      expect(res.statusCode).toBe(503);
      expect(res.headers?.['Retry-After']).toBe(told);
      expect(JSON.parse(res.body as string)).toMatchObject({
        error: 'upstream_unavailable',
        retry_after: Number(told),
      });
      expect(endpoint.count() - before).toBe(1);
    }
  });

  it('the JWS echo never reaches the caller body or the handler log', async () => {
    endpoint.answer(echoAssertion((jwt) => jwt));
    const log = capturingLogger();
    const handler = createTokenHandler({ broker: brokerFor({}, log).broker, logger: log });
    const res = await handler(
      apiEvent({ body: JSON.stringify({ profile: 'p' }), userArn: caller.id }),
      lambdaContext(),
    );
    expect(res.statusCode).toBe(502);
    expect(JSON.parse(res.body as string)).toMatchObject({
      error: 'upstream_rejected',
      provider_error: 'invalid_grant',
      error_description: '[redacted]',
    });
    const jwt = assertionsSent().at(-1)!;
    expect(res.body).not.toContain(jwt.split('.')[1]);
    expect(log.text()).not.toContain(jwt.split('.')[1]);
  });
});

/** Skew messages of each preset, as the providers word them. */
const SKEW_ROWS: ReadonlyArray<{ provider: string; error: string; description: string }> = [
  {
    provider: 'entra',
    error: 'invalid_client',
    description:
      'AADSTS700024: Client assertion is not within its valid time range. Current time: 2030-03-17T15:20:00Z',
  },
  {
    provider: 'entra',
    error: 'invalid_client',
    description: 'AADSTS700003: The client assertion time window is invalid.',
  },
  {
    provider: 'google',
    error: 'invalid_grant',
    description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
  },
  {
    provider: 'okta',
    error: 'invalid_client',
    description: 'The client_assertion token has an expiration too far into the future.',
  },
  {
    provider: 'generic',
    error: 'invalid_grant',
    description: 'the assertion is not yet valid (nbf is in the future)',
  },
  { provider: 'generic', error: 'invalid_grant', description: 'JWT iat is in the future' },
  { provider: 'generic', error: 'invalid_grant', description: 'assertion expired (exp)' },
  { provider: 'docusign', error: 'invalid_grant', description: 'expired' },
  { provider: 'salesforce', error: 'invalid_grant', description: 'invalid assertion: issued in the future' },
];

function presetProfile(provider: string): Record<string, string> {
  switch (provider) {
    case 'entra':
      return { provider: 'entra', assertion: '{ x5tS256: false }' };
    case 'okta':
    case 'generic':
      return { provider };
    case 'google':
      return { provider: 'google', audience: JSON.stringify(endpoint.url) };
    default:
      return { provider, audience: JSON.stringify(endpoint.url) };
  }
}

describe('skew messages of each preset', () => {
  it.each(SKEW_ROWS)('$provider: "$description" is re-signed on the provider clock once', async (row) => {
    endpoint.answer(
      json(
        400,
        { error: row.error, error_description: row.description },
        { date: new Date(AHEAD).toUTCString() },
      ),
      tokenAnswer('tok-after-skew'),
    );
    const before = endpoint.count();
    const { broker } = brokerFor(presetProfile(row.provider));
    const token = await broker.issue({ profile: 'p', caller });
    expect(token.access_token).toBe('tok-after-skew');
    expect(endpoint.count() - before).toBe(2);
  });

  it('a skew-worded rejection from a provider whose clock agrees is not retried', async () => {
    endpoint.answer(
      json(
        400,
        {
          error: 'invalid_client',
          error_description: 'AADSTS700024: Client assertion is not within its valid time range.',
        },
        {
          date: new Date(OURS + SKEW_THRESHOLD_MS - 5_000).toUTCString(),
        },
      ),
    );
    const before = endpoint.count();
    const err = await rejection(() =>
      brokerFor(presetProfile('entra')).broker.issue({ profile: 'p', caller }),
    );
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(err.message).toBe(
      'the token endpoint refused the request (HTTP 400): invalid_client (AADSTS700024: Client assertion is not within its valid time range.)',
    );
    // No skew retry; invalid_client reopens the key material, which did not change, so it is not sent again.
    expect(endpoint.count() - before).toBe(1);
  });
});
