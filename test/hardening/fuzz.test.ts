/**
 * Property-based fuzzing with fast-check: a fixed seed (override with FUZZ_SEED) and at
 * least 10,000 cases per target (FUZZ_RUNS for more). Only typed errors may come out.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConnectionString, serializeConnectionString } from '../../lib/config/connection-string.ts';
import { importDataDirect } from '../../lib/config/datadirect.ts';
import { BrokerError, ConfigError, KeystoreError, RequestError, UpstreamError } from '../../lib/errors.ts';
import { MAX_EXPIRES_IN, processTokenResponse } from '../../lib/exchange/index.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import { parseJsonBody } from '../../lib/http/json-body.ts';
import { parseTokenRequest } from '../../lib/http/token-request.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import { apiEvent } from '../functions/events.ts';
import { fixture, FUZZ_RUNS, FUZZ_SEED, reportTally } from './support.ts';

let cases = 0;
afterAll(() => reportTally('fuzz', { badInputs: 0, fuzzCases: cases, faults: 0 }));

const settings = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;

/** Runs `fn`; returns what it threw, or undefined. */
async function outcome(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Runs `fn`; returns what it threw, or undefined. */
function outcomeSync(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** A plain assertion: `expect` costs too much to run 10,000 times per target. */
function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

function describeError(err: unknown): string {
  return err instanceof Error
    ? `${err.name} ${(err as { code?: unknown }).code ?? ''}: ${err.message}`
    : String(err);
}

describe('connection-string parser', () => {
  const alphabet = fc.constantFrom(...'{}\'"=; \t\nabcXYZ019_.:/-'.split(''));
  const text = fc.oneof(
    fc.string({ unit: alphabet, maxLength: 80 }),
    fc.string({ maxLength: 80 }),
    fc
      .array(fc.tuple(fc.string({ unit: alphabet, maxLength: 12 }), fc.string({ maxLength: 16 })), {
        maxLength: 6,
      })
      .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join(';')),
    fc
      .array(
        fc.tuple(
          fc.constantFrom('ClaimsIssuer', 'JWTCertStore', 'TokenURI', 'AuthenticationMethod', 'Scope'),
          fc.string({ maxLength: 16 }),
        ),
        { maxLength: 6 },
      )
      .map((pairs) => `jdbc:datadirect:autorest:${pairs.map(([k, v]) => `${k}={${v}}`).join(';')}`),
  );

  it(`parses or refuses ${FUZZ_RUNS} strings with ERR_CONNECTION_STRING, and imports only with typed errors`, () => {
    const seen = new Map<string, number>();
    const count = (what: string) => void seen.set(what, (seen.get(what) ?? 0) + 1);
    fc.assert(
      fc.property(text, (input) => {
        cases += 1;
        let options: ReturnType<typeof parseConnectionString> | undefined;
        const refused = outcomeSync(() => {
          options = parseConnectionString(input);
        });
        if (refused !== undefined) {
          if (!(refused instanceof ConfigError) || refused.code !== 'ERR_CONNECTION_STRING')
            throw new Error(`untyped parser error: ${describeError(refused)}`, { cause: refused });
          check(
            /^connection string: .+ \(at character \d+\)$/.test(refused.message),
            `message: ${refused.message}`,
          );
          count('parse refused');
          return;
        }
        const parsed = options!;
        count('parsed');
        // What parsed writes back and parses again to the same options.
        const keysOk = [...parsed.keys()].every((k) => /^[^=;{}'"\s][^=;{}'"]*$/.test(k) && k.trim() === k);
        if (keysOk) {
          const again = parseConnectionString(serializeConnectionString(parsed));
          check(
            JSON.stringify([...again]) === JSON.stringify([...parsed]),
            'serialised options parse back unchanged',
          );
          count('round trip');
        }
        const err = outcomeSync(() => importDataDirect(parsed));
        if (err === undefined) return void count('imported');
        if (!(err instanceof ConfigError))
          throw new Error(`untyped import error: ${describeError(err)}`, { cause: err });
        check(['ERR_CONNECTION_STRING', 'ERR_AUTH_METHOD', 'ERR_CONFIG'].includes(err.code), err.code);
        count(err.code);
      }),
      settings,
    );
    // Every branch ran: refusals, round trips, imports and typed import errors.
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining(['parse refused', 'parsed', 'round trip', 'imported', 'ERR_CONNECTION_STRING']),
    );
  });
});

describe('keystore opener', () => {
  /**
   * Fixtures of every kind with the password that opens them, and the mutations tried on
   * each. A wrong byte in the body of a JCEKS or keytool PKCS#12 file costs a full key
   * derivation (hundreds of milliseconds), so those get only the mutations that fail fast.
   */
  const ALL = ['flip', 'truncate', 'splice', 'overwrite', 'header'] as const;
  const FAST = ['truncate'] as const;
  const FIXTURES: readonly (readonly [string, string | undefined, readonly string[]])[] = [
    ['java-ec256.jks', 'changeit', ALL],
    ['java-rsa2048.jks', 'changeit', ALL],
    ['java-ec256.jceks', undefined, FAST],
    ['java-rsa2048.jceks', undefined, FAST],
    ['p12-openssl-ec256.p12', 'changeit', ALL],
    ['p12-openssl-plain.p12', '', ALL],
    ['p12-openssl-nomac.p12', 'changeit', ALL],
    ['p12-keytool-ec256.p12', undefined, FAST],
    ['pem-ec256-pkcs8.pem', undefined, ALL],
    ['pem-ec256-sec1.pem', undefined, ALL],
    ['pem-rsa2048-with-cert.pem', undefined, ALL],
    ['pem-ec256-encrypted.pem', 'pä ss wörd ✓', ALL],
    ['jwk-ec256-x5c.json', undefined, ALL],
    ['jwk-set.json', undefined, ALL],
    ['google-sa.json', undefined, ALL],
  ];
  const loaded = FIXTURES.map(([name, password, mutations]) => ({
    name,
    password,
    mutations,
    bytes: fixture(name),
  }));
  const MAGICS = [
    [0xfe, 0xed, 0xfe, 0xed],
    [0xce, 0xce, 0xce, 0xce],
    [0x30, 0x82, 0x01, 0x00, 0x02, 0x01, 0x03],
    [...Buffer.from('-----BEGIN PRIVATE KEY-----\n')],
    [...Buffer.from('{"kty":"EC",')],
    [...Buffer.from('{"type":"service_account","private_key":"')],
  ];

  type Input = { bytes: Uint8Array; password: string | undefined; type?: 'pkcs12' | 'jks' | 'pem' };
  const randomInput: fc.Arbitrary<Input> = fc
    .tuple(
      fc.constantFrom(...MAGICS),
      fc.uint8Array({ maxLength: 512 }),
      fc.option(fc.string({ maxLength: 8 })),
    )
    .map(([magic, rest, password]) => ({
      bytes: new Uint8Array([...magic, ...rest]),
      password: password ?? undefined,
    }));
  const rawRandom: fc.Arbitrary<Input> = fc
    .uint8Array({ maxLength: 256 })
    .map((bytes) => ({ bytes, password: undefined }));
  const mutation: fc.Arbitrary<Input> = fc
    .tuple(
      fc.constantFrom(...loaded),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
    )
    .map(([source, pick, a, b, junk]) => {
      const how = source.mutations[pick % source.mutations.length];
      const bytes = Buffer.from(source.bytes);
      const at = a % bytes.length;
      let out: Uint8Array;
      switch (how) {
        case 'flip':
          bytes[at] = bytes[at]! ^ (1 << (b % 8));
          out = bytes;
          break;
        case 'truncate':
          out = bytes.subarray(0, at);
          break;
        case 'splice':
          out = Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at + (b % 32))]);
          break;
        case 'overwrite':
          bytes.set(junk.subarray(0, bytes.length - at), at);
          out = bytes;
          break;
        default:
          // Damage the first bytes, where lengths and versions live: these fail fast.
          bytes[a % Math.min(64, bytes.length)] = junk[0]!;
          out = bytes;
      }
      return { bytes: out, password: source.password };
    });

  it(`opens or refuses ${FUZZ_RUNS} random and mutated keystores with KeystoreError only`, async () => {
    const seen = new Map<string, number>();
    // Untyped errors are collected, not thrown at once, so one run shows every kind found.
    const untyped = new Map<string, string>();
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomInput, rawRandom, mutation, mutation), async (input) => {
        cases += 1;
        const err = await outcome(() => openKeystore(input.bytes, { password: input.password }));
        const code = err instanceof BrokerError ? err.code : 'ok';
        seen.set(code, (seen.get(code) ?? 0) + 1);
        if (err === undefined) return;
        if (!(err instanceof KeystoreError)) {
          const kind = describeError(err);
          if (!untyped.has(kind)) untyped.set(kind, Buffer.from(input.bytes).toString('base64'));
          return;
        }
        check(HTTP_ERRORS[err.code].status === 500, `status of ${err.code}`);
        check(!err.message.includes('\n'), `one-line message: ${err.message}`);
      }),
      settings,
    );
    expect([...untyped.keys()], 'untyped errors escaped openKeystore').toEqual([]);
    // The mutations reach past the format check into integrity, passwords and keys.
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        'ERR_KEYSTORE_FORMAT',
        'ERR_KEYSTORE_INTEGRITY',
        'ERR_KEYSTORE_PASSWORD',
        'ok',
      ]),
    );
  });
});

describe('token-response validator', () => {
  const value = fc.oneof(
    fc.string({ maxLength: 24 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('3600', '-1', 'abc', '1e12', '', ' 60 ', '60.5'),
    fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
  );
  const body = fc.oneof(
    fc
      .record(
        {
          access_token: fc.oneof(value, fc.string({ minLength: 12, maxLength: 40 })),
          token_type: fc.oneof(value, fc.constantFrom('Bearer', 'bearer', 'mac')),
          expires_in: value,
          scope: value,
          error: value,
          error_description: value,
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.string({ maxLength: 64 }),
    fc.json({ maxDepth: 2 }),
    fc
      .record({ access_token: fc.string({ minLength: 1 }), token_type: fc.constant('Bearer') })
      .chain((o) => fc.nat(40).map((n) => JSON.stringify(o).slice(0, n))),
  );
  const status = fc.oneof(
    fc.constant(200),
    fc.constantFrom(200, 200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 429, 500, 502, 503),
    fc.integer({ min: 200, max: 599 }),
  );
  const contentType = fc.constantFrom(
    'application/json',
    'text/html',
    'text/plain',
    '',
    'application/json; charset=utf-8',
  );

  it(`accepts only well-formed answers among ${FUZZ_RUNS} synthetic responses, refusing the rest with typed errors`, async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(status, contentType, body, async (code, type, text) => {
        cases += 1;
        const noBody = code === 204 || code === 205 || code === 304;
        const headers: Record<string, string> = type ? { 'content-type': type } : {};
        if (code >= 300 && code < 400) headers['location'] = 'https://elsewhere.example/token';
        const response = new Response(noBody ? null : text, { status: code, headers });
        let token: Awaited<ReturnType<typeof processTokenResponse>> | undefined;
        const err = await outcome(async () => {
          token = await processTokenResponse(response);
        });
        const outcomeCode = err instanceof BrokerError ? err.code : err === undefined ? 'ok' : 'untyped';
        seen.set(outcomeCode, (seen.get(outcomeCode) ?? 0) + 1);
        if (err === undefined) {
          const t = token!;
          check(code === 200, `accepted status ${code}`);
          check(typeof t.accessToken === 'string' && t.accessToken.length > 0, 'access token');
          check(t.tokenType.length > 0, 'token type');
          check(
            Number.isInteger(t.expiresIn) && t.expiresIn >= 0 && t.expiresIn <= MAX_EXPIRES_IN,
            'expires_in',
          );
          return;
        }
        if (
          !(err instanceof UpstreamError) &&
          !(err instanceof BrokerError && err.code === 'ERR_UPSTREAM_REJECTED')
        )
          throw new Error(`untyped validator error: ${describeError(err)}`);
        const errCode = (err as BrokerError).code;
        check(
          ['ERR_UPSTREAM_INVALID_RESPONSE', 'ERR_UPSTREAM_UNAVAILABLE', 'ERR_UPSTREAM_REJECTED'].includes(
            errCode,
          ),
          errCode,
        );
        // The message names status and content type, never the body's token.
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const sent = (parsed as { access_token?: unknown } | undefined)?.access_token;
        if (typeof sent === 'string' && sent.length >= 12)
          check(!(err as Error).message.includes(sent), 'the message carries the access token');
      }),
      settings,
    );
    // Both outcomes were reached: accepted answers and each kind of refusal.
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        'ok',
        'ERR_UPSTREAM_INVALID_RESPONSE',
        'ERR_UPSTREAM_UNAVAILABLE',
        'ERR_UPSTREAM_REJECTED',
      ]),
    );
  });
});

describe('API body parser and validation', () => {
  const field = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.integer({ min: -10, max: 100_000 }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
  );
  // Well-formed requests: random fields almost never make one, so the accepting path needs its own.
  const wellFormed = fc
    .record(
      {
        profile: fc.string({ minLength: 1, maxLength: 128 }),
        subject: fc.string({ minLength: 1, maxLength: 40 }),
        scope: fc.constantFrom('read', 'read write', 'openid profile'),
        minTtl: fc.integer({ min: 0, max: 3600 }),
      },
      { requiredKeys: ['profile'] },
    )
    .map((o) => JSON.stringify(o));
  const bodyText = fc.oneof(
    wellFormed,
    fc
      .record(
        { profile: field, subject: field, scope: field, minTtl: field, extra: field },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.json({ maxDepth: 2 }),
    fc.string({ maxLength: 64 }),
    fc.constantFrom('', ' ', 'null', '[]', '{}', '{"profile":"a"', '\u0000', '{"__proto__":{"profile":"x"}}'),
  );
  const contentType = fc.option(
    fc.constantFrom(
      'application/json',
      'application/vnd.api+json',
      'text/plain',
      'application/json; charset=utf-8',
      'multipart/form-data',
    ),
    { nil: undefined },
  );

  it(`parses or refuses ${FUZZ_RUNS} bodies with RequestError only`, () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(bodyText, contentType, fc.boolean(), fc.nat(20_000), (text, type, base64, pad) => {
        cases += 1;
        const raw = pad > 19_000 ? text + ' '.repeat(pad) : text;
        const event = apiEvent({
          body: base64 ? Buffer.from(raw).toString('base64') : raw,
          isBase64Encoded: base64,
          headers: type === undefined ? {} : { 'Content-Type': type },
        });
        const headers = Object.fromEntries(
          Object.entries(event.headers).map(([k, v]) => [k.toLowerCase(), v]),
        );
        let parsed: ReturnType<typeof parseTokenRequest> | undefined;
        const err = outcomeSync(() => {
          parsed = parseTokenRequest(parseJsonBody({ ...event, headers }));
        });
        const code = err instanceof BrokerError ? err.code : err === undefined ? 'ok' : 'untyped';
        seen.set(code, (seen.get(code) ?? 0) + 1);
        if (err === undefined) {
          check(typeof parsed!.profile === 'string', 'profile');
          check(
            Object.keys(parsed!).every((k) => ['profile', 'subject', 'scope', 'minTtl'].includes(k)),
            'fields',
          );
          return;
        }
        if (!(err instanceof RequestError))
          throw new Error(`untyped body error: ${describeError(err)}`, { cause: err });
        check(
          ['ERR_INVALID_REQUEST', 'ERR_BODY_TOO_LARGE', 'ERR_UNSUPPORTED_MEDIA_TYPE'].includes(err.code),
          err.code,
        );
        // A body is read as JSON only when the request says it is JSON.
        if (type === 'text/plain' || type === 'multipart/form-data')
          check(err.code === 'ERR_UNSUPPORTED_MEDIA_TYPE', `${String(type)} gave ${err.code}`);
        check(HTTP_ERRORS[err.code].status < 500, `status of ${err.code}`);
      }),
      settings,
    );
    // Both outcomes were reached: accepted bodies and each kind of refusal.
    expect([...seen.keys()]).toEqual(
      expect.arrayContaining([
        'ok',
        'ERR_INVALID_REQUEST',
        'ERR_BODY_TOO_LARGE',
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      ]),
    );
  });
});
