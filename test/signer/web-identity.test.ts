import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stsApiFactory } from '../../lib/aws/sts.ts';
import type { WebIdentityOptions } from '../../lib/config/types.ts';
import { BrokerError } from '../../lib/errors.ts';
import {
  MAX_WEB_IDENTITY_TOKEN_CHARS,
  WEB_IDENTITY_REFUSAL_MEMORY_MS,
  WebIdentitySource,
} from '../../lib/signer/web-identity.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { startStsServer, type StsFault, type StsServer } from '../support/sts-server.ts';

const REGION = 'eu-west-1';
const ROLE = 'arn:aws:iam::210987654321:role/token-broker-token';

const SETTINGS: WebIdentityOptions = {
  audience: ['api://AzureADTokenExchange'],
  algorithm: 'RS256',
  lifetime: 300,
  tags: {},
  fallback: undefined,
};

let sts: StsServer;
let now = Date.parse('2026-12-01T10:00:00Z');
const clock = () => now;

function factory(region = REGION) {
  return stsApiFactory({
    region,
    endpoint: sts.endpoint,
    credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'test-secret-not-real' },
    maxAttempts: 1,
  });
}

function recordingLogger(): Logger & { lines: { message: string; fields?: LogFields | undefined }[] } {
  const lines: { message: string; fields?: LogFields | undefined }[] = [];
  const log = (message: string, fields?: LogFields) => lines.push({ message, fields });
  return { lines, debug: log, info: log, warn: log, error: log };
}

async function codeOf(promise: Promise<unknown>): Promise<BrokerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError)) throw new Error(`expected a BrokerError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  sts = await startStsServer({ principals: { AKIDBROKER: ROLE }, clock });
});
afterAll(async () => {
  await sts.close();
});
beforeEach(() => {
  sts.fail(undefined);
  sts.calls.length = 0;
  now = Date.parse('2026-12-01T10:00:00Z');
});

describe('WebIdentitySource', () => {
  it("answers the role's JWT from STS with the profile's audience, algorithm, lifetime and tags", async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    const jwt = await source.token({
      ...SETTINGS,
      algorithm: 'ES384',
      lifetime: 900,
      tags: { team: 'billing' },
    });
    expect(sts.calls).toEqual([
      {
        audience: ['api://AzureADTokenExchange'],
        signingAlgorithm: 'ES384',
        durationSeconds: 900,
        tags: { team: 'billing' },
        principal: ROLE,
      },
    ]);
    const jwks = createRemoteJWKSet(new URL(`${sts.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(jwt, jwks, {
      issuer: sts.issuer,
      audience: 'api://AzureADTokenExchange',
      currentDate: new Date(now),
    });
    expect(protectedHeader.alg).toBe('ES384');
    expect(payload.sub).toBe(ROLE);
    expect(payload.exp! - payload.iat!).toBe(900);
  });

  it('holds the JWT until 60 s before its own expiry, then asks STS again (clock, no sleep)', async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    const first = await source.token(SETTINGS);
    const exp = decodeJwt(first).exp! * 1000;
    now = exp - 61_000;
    expect(await source.token(SETTINGS)).toBe(first);
    expect(sts.calls).toHaveLength(1);
    now = exp - 60_000;
    const second = await source.token(SETTINGS);
    expect(second).not.toBe(first);
    expect(sts.calls).toHaveLength(2);
    expect(decodeJwt(second).exp! * 1000).toBeGreaterThan(now);
  });

  it('holds a 60 s JWT for half its life only, never up to its expiry', async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    const first = await source.token({ ...SETTINGS, lifetime: 60 });
    now += 29_000;
    expect(await source.token({ ...SETTINGS, lifetime: 60 })).toBe(first);
    now += 1_000;
    expect(await source.token({ ...SETTINGS, lifetime: 60 })).not.toBe(first);
    expect(sts.calls).toHaveLength(2);
  });

  it('makes one STS call for 100 concurrent callers, and one per distinct audience, algorithm, lifetime or tags', async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    const tokens = await Promise.all(Array.from({ length: 100 }, () => source.token(SETTINGS)));
    expect(new Set(tokens).size).toBe(1);
    expect(sts.calls).toHaveLength(1);
    await Promise.all([
      source.token({ ...SETTINGS, audience: ['https://other.example.com'] }),
      source.token({ ...SETTINGS, algorithm: 'ES384' }),
      source.token({ ...SETTINGS, lifetime: 600 }),
      source.token({ ...SETTINGS, tags: { team: 'billing' } }),
      source.token({ ...SETTINGS, tags: {} }),
    ]);
    expect(sts.calls).toHaveLength(5);
    expect(source.calls).toBe(5);
  });

  it('fresh() replaces the held JWT with one STS signs now; 10 concurrent callers share that one call', async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    const held = await source.token(SETTINGS);
    now += 1_000; // a new iat, so the new JWT differs from the held one
    const fresh = await Promise.all(Array.from({ length: 10 }, () => source.fresh(SETTINGS)));
    expect(sts.calls).toHaveLength(2);
    expect(new Set(fresh).size).toBe(1);
    expect(fresh[0]).not.toBe(held);
    // The fresh JWT is the one held from now on.
    expect(await source.token(SETTINGS)).toBe(fresh[0]);
    expect(sts.calls).toHaveLength(2);
  });

  it('remembers a refusal for WEB_IDENTITY_REFUSAL_MEMORY_MS, per settings, and forgets it at its edge or on clear()', async () => {
    const source = new WebIdentitySource({ sts: factory(), clock });
    sts.fail('OutboundWebIdentityFederationDisabled');
    const refusal = await codeOf(source.token(SETTINGS));
    expect(refusal.code).toBe('ERR_WEB_IDENTITY_DISABLED');
    source.remember(SETTINGS, refusal);
    expect(source.remembered(SETTINGS)).toBe(refusal);
    expect(source.remembered({ ...SETTINGS, algorithm: 'ES384' })).toBeUndefined();
    now += WEB_IDENTITY_REFUSAL_MEMORY_MS - 1;
    expect(source.remembered(SETTINGS)).toBe(refusal);
    now += 1;
    expect(source.remembered(SETTINGS)).toBeUndefined();
    source.remember(SETTINGS, refusal);
    source.clear();
    expect(source.remembered(SETTINGS)).toBeUndefined();
  });

  it('logs the fingerprint of the JWT, never the JWT', async () => {
    const logger = recordingLogger();
    const source = new WebIdentitySource({ sts: factory(), clock, logger });
    const jwt = await source.token(SETTINGS);
    const text = JSON.stringify(logger.lines);
    expect(text).not.toContain(jwt);
    expect(text).not.toContain(jwt.split('.')[2]);
    expect(logger.lines).toEqual([
      {
        message: 'web identity token obtained',
        fields: expect.objectContaining({ fingerprint: expect.stringMatching(/^[0-9a-f]{8}$/) }),
      },
    ]);
  });

  const FAULTS: [StsFault, string, string][] = [
    [
      'OutboundWebIdentityFederationDisabled',
      'ERR_WEB_IDENTITY_DISABLED',
      'enable it once in the IAM account settings (aws iam enable-outbound-web-identity-federation)',
    ],
    ['AccessDenied', 'ERR_WEB_IDENTITY_DENIED', "allow sts:GetWebIdentityToken to the function's role"],
    ['RegionDisabled', 'ERR_WEB_IDENTITY_REGION', 'use a regional STS endpoint of an enabled region'],
    ['Throttling', 'ERR_WEB_IDENTITY_THROTTLED', 'was throttled (Throttling); try again later'],
    ['InternalFailure', 'ERR_WEB_IDENTITY_UNAVAILABLE', 'STS is unreachable or failing, try again'],
    ['SessionDurationEscalation', 'ERR_WEB_IDENTITY_UNAVAILABLE', 'lower webIdentity.lifetime'],
    ['JWTPayloadSizeExceeded', 'ERR_CONFIG', 'use fewer or shorter webIdentity.tags and audiences'],
  ];
  it.each(FAULTS)(
    'maps %s to %s with the fix in one line, and keeps no failure',
    async (fault, code, fix) => {
      const source = new WebIdentitySource({ sts: factory(), clock });
      sts.fail(fault, 1);
      const err = await codeOf(source.token(SETTINGS));
      expect(err.code).toBe(code);
      expect(err.message).toContain(
        `STS GetWebIdentityToken for audience api://AzureADTokenExchange in ${REGION}`,
      );
      expect(err.message).toContain(fix);
      expect(err.message).not.toContain('\n');
      await source.token(SETTINGS);
      expect(sts.calls).toHaveLength(2);
    },
  );

  it('refuses the global STS (region aws-global) before calling it, with ERR_WEB_IDENTITY_REGION', async () => {
    const source = new WebIdentitySource({ sts: factory('aws-global'), clock });
    const err = await codeOf(source.token(SETTINGS));
    expect(err.code).toBe('ERR_WEB_IDENTITY_REGION');
    expect(err.message).toBe(
      "STS GetWebIdentityToken needs a regional endpoint, and the region is aws-global; set AWS_REGION (or cache.region) to the function's region",
    );
    expect(sts.calls).toHaveLength(0);
  });

  it('says the region is missing (ERR_WEB_IDENTITY_REGION) when none is configured anywhere', async () => {
    const saved = {
      AWS_REGION: process.env['AWS_REGION'],
      AWS_DEFAULT_REGION: process.env['AWS_DEFAULT_REGION'],
    };
    delete process.env['AWS_REGION'];
    delete process.env['AWS_DEFAULT_REGION'];
    try {
      const source = new WebIdentitySource({
        sts: stsApiFactory({
          endpoint: sts.endpoint,
          credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'x' },
          maxAttempts: 1,
          // No shared config file either.
          profile: 'token-broker-test-no-such-profile',
        }),
        clock,
      });
      const err = await codeOf(source.token(SETTINGS));
      expect(err.code).toBe('ERR_WEB_IDENTITY_REGION');
      expect(err.message).toContain('no region is set; set AWS_REGION (or cache.region)');
      expect(sts.calls).toHaveLength(0);
    } finally {
      for (const [name, value] of Object.entries(saved)) if (value !== undefined) process.env[name] = value;
    }
  });

  it('says STS is unreachable (ERR_WEB_IDENTITY_UNAVAILABLE) when nothing listens', async () => {
    const source = new WebIdentitySource({
      sts: stsApiFactory({
        region: REGION,
        endpoint: 'http://127.0.0.1:9',
        credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'x' },
        maxAttempts: 1,
      }),
      clock,
    });
    const err = await codeOf(source.token(SETTINGS));
    expect(err.code).toBe('ERR_WEB_IDENTITY_UNAVAILABLE');
    expect(err.details['retry']).toBe(true);
  });
});

describe('WebIdentitySource: what STS answers is checked before it is held', () => {
  let answer: (issued: { token: string; expiration: Date }) => { token: string; expiration: Date };
  let odd: StsServer;
  const oddFactory = () =>
    stsApiFactory({
      region: REGION,
      endpoint: odd.endpoint,
      credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'test-secret-not-real' },
      maxAttempts: 1,
    });

  beforeAll(async () => {
    odd = await startStsServer({
      principals: { AKIDBROKER: ROLE },
      clock,
      answer: (issued) => answer(issued),
    });
  });
  afterAll(async () => {
    await odd.close();
  });
  beforeEach(() => {
    odd.calls.length = 0;
  });

  it("holds the JWT until its own exp when STS's Expiration is later", async () => {
    answer = ({ token, expiration }) => ({ token, expiration: new Date(expiration.getTime() + 3_600_000) });
    const source = new WebIdentitySource({ sts: oddFactory(), clock });
    const first = await source.token(SETTINGS);
    const exp = decodeJwt(first).exp! * 1000;
    now = exp - 61_000;
    expect(await source.token(SETTINGS)).toBe(first);
    now = exp - 60_000;
    expect(await source.token(SETTINGS)).not.toBe(first);
    expect(odd.calls).toHaveLength(2);
  });

  it.each([
    ['not a JWT', (token: string) => token.replaceAll('.', '')],
    ['longer than the limit', (token: string) => `${token}${'A'.repeat(MAX_WEB_IDENTITY_TOKEN_CHARS)}`],
    [
      'a JWT without exp',
      (token: string) => {
        const [header, , signature] = token.split('.');
        return [header, Buffer.from('{"sub":"x"}').toString('base64url'), signature].join('.');
      },
    ],
  ])(
    'refuses a token that is %s: ERR_WEB_IDENTITY_UNAVAILABLE, the token never quoted',
    async (_, change) => {
      let sent = '';
      answer = ({ token, expiration }) => {
        sent = change(token);
        return { token: sent, expiration };
      };
      const source = new WebIdentitySource({ sts: oddFactory(), clock });
      const err = await codeOf(source.token(SETTINGS));
      expect(err.code).toBe('ERR_WEB_IDENTITY_UNAVAILABLE');
      expect(err.message).toContain('AWS_ENDPOINT_URL_STS');
      expect(err.message).not.toContain(sent.slice(0, 40));
      // Nothing was held: the next request asks STS again.
      await codeOf(source.token(SETTINGS));
      expect(odd.calls).toHaveLength(2);
    },
  );
});
