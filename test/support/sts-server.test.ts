import {
  GetWebIdentityTokenCommand,
  STSClient,
  type GetWebIdentityTokenCommandInput,
} from '@aws-sdk/client-sts';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AWS_CLAIMS_NAMESPACE,
  DEFAULT_ROLE_ARN,
  startStsServer,
  type StsFault,
  type StsServer,
} from './sts-server.ts';

const REGION = 'eu-west-1';
const ROLE = 'arn:aws:iam::210987654321:role/broker-token';

let sts: StsServer;
let client: STSClient;

function stsClient(server: StsServer, accessKeyId = 'AKIDBROKER'): STSClient {
  return new STSClient({
    region: REGION,
    endpoint: server.endpoint,
    credentials: { accessKeyId, secretAccessKey: 'test-secret-not-real' },
    maxAttempts: 1,
  });
}

async function token(input: Partial<GetWebIdentityTokenCommandInput> = {}) {
  return client.send(
    new GetWebIdentityTokenCommand({
      Audience: ['api://AzureADTokenExchange'],
      SigningAlgorithm: 'RS256',
      ...input,
    }),
  );
}

beforeAll(async () => {
  sts = await startStsServer({ principals: { AKIDBROKER: ROLE } });
  client = stsClient(sts);
});
afterAll(async () => {
  client.destroy();
  await sts.close();
});
beforeEach(() => {
  sts.fail(undefined);
  sts.calls.length = 0;
});

describe('GetWebIdentityToken over the query protocol', () => {
  it('answers a JWT that verifies against the issuer JWKS, with the claims AWS documents', async () => {
    const before = Math.floor(Date.now() / 1000);
    const out = await token({ DurationSeconds: 900, Tags: [{ Key: 'team', Value: 'billing' }] });
    const jwks = createRemoteJWKSet(new URL(`${sts.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(out.WebIdentityToken!, jwks, {
      issuer: sts.issuer,
      audience: 'api://AzureADTokenExchange',
      subject: ROLE,
      algorithms: ['RS256'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    expect(protectedHeader.kid).toMatch(/^[\w-]{43}$/);
    expect(payload.aud).toBe('api://AzureADTokenExchange');
    expect(payload.iat).toBeGreaterThanOrEqual(before);
    expect(payload.exp).toBe(payload.iat! + 900);
    expect(payload.nbf).toBeUndefined();
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(payload[AWS_CLAIMS_NAMESPACE]).toEqual({
      aws_account: '210987654321',
      source_region: REGION,
      request_tags: { team: 'billing' },
    });
    expect(out.Expiration).toEqual(new Date(payload.exp! * 1000));
  });

  it('serves OIDC discovery naming the issuer, the JWKS and both algorithms', async () => {
    const discovery = (await (
      await fetch(`${sts.issuer}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(discovery).toMatchObject({
      issuer: sts.issuer,
      jwks_uri: `${sts.issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['RS256', 'ES384'],
    });
    const jwks = (await (await fetch(String(discovery['jwks_uri']))).json()) as {
      keys: { kty: string; d?: string }[];
    };
    expect(jwks.keys.map((k) => k.kty).sort()).toEqual(['EC', 'RSA']);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('signs ES384 with a P-384 key, an array aud for several audiences, 300 s by default', async () => {
    const out = await token({
      SigningAlgorithm: 'ES384',
      Audience: ['https://a.example', 'https://b.example'],
    });
    const jwks = createRemoteJWKSet(new URL(`${sts.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(out.WebIdentityToken!, jwks, {
      algorithms: ['ES384'],
    });
    expect(protectedHeader.alg).toBe('ES384');
    expect(payload.aud).toEqual(['https://a.example', 'https://b.example']);
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(payload[AWS_CLAIMS_NAMESPACE]).not.toHaveProperty('request_tags');
  });

  it('records each call with its principal, audiences, algorithm, duration and tags', async () => {
    await token({ Tags: [{ Key: 'k', Value: 'v' }] });
    await token({ SigningAlgorithm: 'ES384', DurationSeconds: 60 });
    expect(sts.calls).toEqual([
      {
        audience: ['api://AzureADTokenExchange'],
        signingAlgorithm: 'RS256',
        durationSeconds: undefined,
        tags: { k: 'v' },
        principal: ROLE,
      },
      {
        audience: ['api://AzureADTokenExchange'],
        signingAlgorithm: 'ES384',
        durationSeconds: 60,
        tags: {},
        principal: ROLE,
      },
    ]);
  });

  it('takes the role from the access key id, DEFAULT_ROLE_ARN for any key without principals', async () => {
    const open = await startStsServer();
    const other = stsClient(open, 'AKIDANYONE');
    try {
      const out = await other.send(
        new GetWebIdentityTokenCommand({ Audience: ['x'], SigningAlgorithm: 'RS256' }),
      );
      expect(JSON.parse(Buffer.from(out.WebIdentityToken!.split('.')[1]!, 'base64url').toString()).sub).toBe(
        DEFAULT_ROLE_ARN,
      );
      expect(open.calls[0]?.principal).toBe(DEFAULT_ROLE_ARN);
    } finally {
      other.destroy();
      await open.close();
    }
    const stranger = stsClient(sts, 'AKIDSTRANGER');
    await expect(
      stranger.send(new GetWebIdentityTokenCommand({ Audience: ['x'], SigningAlgorithm: 'RS256' })),
    ).rejects.toMatchObject({
      name: 'InvalidClientTokenId',
      $metadata: { httpStatusCode: 403 },
    });
    stranger.destroy();
    expect(sts.calls).toHaveLength(0);
  });

  it('issues iat and exp from the clock option', async () => {
    const past = Date.parse('2026-01-01T00:00:00Z');
    const frozen = await startStsServer({ clock: () => past });
    const c = stsClient(frozen);
    try {
      const out = await c.send(
        new GetWebIdentityTokenCommand({ Audience: ['x'], SigningAlgorithm: 'RS256', DurationSeconds: 60 }),
      );
      const payload = JSON.parse(Buffer.from(out.WebIdentityToken!.split('.')[1]!, 'base64url').toString());
      expect(payload.iat).toBe(past / 1000);
      expect(payload.exp).toBe(past / 1000 + 60);
      expect(out.Expiration).toEqual(new Date(past + 60_000));
    } finally {
      c.destroy();
      await frozen.close();
    }
  });

  it('rotates keys: a new kid signs, the JWKS serves old and new', async () => {
    const first = decodeProtectedHeader((await token()).WebIdentityToken!).kid;
    await sts.rotateKeys();
    const second = decodeProtectedHeader((await token()).WebIdentityToken!).kid;
    expect(second).not.toBe(first);
    const jwks = (await (await fetch(`${sts.issuer}/.well-known/jwks.json`)).json()) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([first, second]));
    expect(jwks.keys).toHaveLength(4);
  });
});

describe('faults map to the SDK exception classes', () => {
  const cases: [StsFault, string, number][] = [
    ['OutboundWebIdentityFederationDisabled', 'OutboundWebIdentityFederationDisabledException', 403],
    ['AccessDenied', 'AccessDenied', 403],
    ['Throttling', 'Throttling', 400],
    ['RegionDisabled', 'RegionDisabledException', 403],
    ['JWTPayloadSizeExceeded', 'JWTPayloadSizeExceededException', 400],
    ['SessionDurationEscalation', 'SessionDurationEscalationException', 403],
    ['InternalFailure', 'InternalFailure', 500],
  ];
  it.each(cases)('%s answers %s with HTTP %i', async (fault, name, status) => {
    sts.fail(fault);
    const err = await token().catch((e: unknown) => e);
    expect(err).toMatchObject({ name, $metadata: { httpStatusCode: status } });
    expect((err as Error).message).not.toBe('');
  });

  it('fails `times` requests then answers again; undefined clears a lasting fault', async () => {
    sts.fail('Throttling', 2);
    await expect(token()).rejects.toMatchObject({ name: 'Throttling' });
    await expect(token()).rejects.toMatchObject({ name: 'Throttling' });
    await expect(token()).resolves.toHaveProperty('WebIdentityToken');
    sts.fail('AccessDenied');
    for (let i = 0; i < 3; i++) await expect(token()).rejects.toMatchObject({ name: 'AccessDenied' });
    sts.fail(undefined);
    await expect(token()).resolves.toHaveProperty('WebIdentityToken');
    expect(sts.calls).toHaveLength(7);
  });

  it('the SDK retries a throttled request by itself (every attempt recorded)', async () => {
    const retrying = new STSClient({
      region: REGION,
      endpoint: sts.endpoint,
      credentials: { accessKeyId: 'AKIDBROKER', secretAccessKey: 'x' },
      maxAttempts: 3,
    });
    sts.fail('Throttling', 1);
    try {
      await retrying.send(new GetWebIdentityTokenCommand({ Audience: ['x'], SigningAlgorithm: 'ES384' }));
    } finally {
      retrying.destroy();
    }
    expect(sts.calls).toHaveLength(2);
  });
});

describe('validation as AWS answers it', () => {
  const cases: [string, Partial<GetWebIdentityTokenCommandInput>, RegExp][] = [
    ['no audience', { Audience: [] }, /'audience'.*must not be null/],
    [
      'eleven audiences',
      { Audience: Array.from({ length: 11 }, (_, i) => `a${i}`) },
      /less than or equal to 10/,
    ],
    ['an audience too long', { Audience: ['a'.repeat(1001)] }, /between 1 and 1000/],
    ['HS256', { SigningAlgorithm: 'HS256' }, /Invalid signing algorithm: HS256/],
    ['59 seconds', { DurationSeconds: 59 }, /'durationSeconds'.*between 60 and 3600/],
    ['3601 seconds', { DurationSeconds: 3601 }, /'durationSeconds'.*between 60 and 3600/],
    ['a tag key too long', { Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] }, /'tags.1.member'/],
    [
      'a duplicate tag key',
      {
        Tags: [
          { Key: 'k', Value: '1' },
          { Key: 'k', Value: '2' },
        ],
      },
      /Duplicate tag keys found: k/,
    ],
  ];
  it.each(cases)('refuses %s with ValidationError 400 and records nothing', async (_, input, message) => {
    const err = await token(input).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ValidationError', $metadata: { httpStatusCode: 400 } });
    expect((err as Error).message).toMatch(message);
    expect(sts.calls).toHaveLength(0);
  });

  it('refuses an unsigned request with MissingAuthenticationToken and another action with InvalidAction', async () => {
    const unsigned = await fetch(sts.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetWebIdentityToken&Version=2011-06-15&Audience.member.1=x&SigningAlgorithm=RS256',
    });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toMatch(/<Code>MissingAuthenticationToken<\/Code>/);
    const other = await fetch(sts.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(other.status).toBe(400);
    expect(await other.text()).toMatch(/<Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
  });
});
