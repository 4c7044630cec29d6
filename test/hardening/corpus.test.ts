/**
 * Bad-input corpus: every case names the exact error code, the HTTP status the API maps
 * it to, and a message that says what to fix; the process keeps running throughout.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { createConsentCallbackHandler } from '../../functions/consent-callback.ts';
import { createConsentStartHandler } from '../../functions/consent-start.ts';
import { verifySigV4 } from '../../lib/auth/sigv4-verify.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { PROOF_INTERVAL_MS, START_REFUSED_MESSAGE } from '../../lib/consent/flow.ts';
import { setupConsent } from '../../lib/consent/setup.ts';
import { createMemoryConsentStore } from '../../lib/consent/store.ts';
import { startAuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { CALLER_ARN, signedPost, verifyOptions } from '../client/sigv4-fixtures.ts';
import { CLIENT_ID, CLIENT_SECRET, consentConfig, demoCertificate } from '../consent/fixtures.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { parseConnectionString } from '../../lib/config/connection-string.ts';
import { importDataDirect } from '../../lib/config/datadirect.ts';
import { loadConfig, parseConfig } from '../../lib/config/index.ts';
import type { AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { type ErrorCode } from '../../lib/errors.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { hashApiKey } from '../../lib/server/caller.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { json, raw, startFaultServer, type FaultServer, type FaultStep } from '../support/fault-server.ts';
import { harnessBroker, harnessConfig, startDevServer } from './harness.ts';
import { capturingLogger, fixture, rejection, reportTally } from './support.ts';

/** Crashes the process would otherwise hide: none may happen during the corpus. */
const stray: unknown[] = [];
const onStray = (err: unknown): void => void stray.push(err);
let ran = 0;

beforeAll(() => {
  process.on('unhandledRejection', onStray);
  process.on('uncaughtException', onStray);
});
afterAll(() => {
  process.off('unhandledRejection', onStray);
  process.off('uncaughtException', onStray);
  reportTally('corpus', { badInputs: ran, fuzzCases: 0, faults: 0 });
});

interface Case {
  readonly name: string;
  readonly run: () => unknown;
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: RegExp;
  /** A secret the input holds, which the message must not repeat. */
  readonly hides?: string;
}

async function expectCase(c: Case): Promise<void> {
  const err = await rejection(c.run);
  expect(err.code).toBe(c.code);
  expect(HTTP_ERRORS[err.code].status).toBe(c.status);
  expect(err.message).toMatch(c.message);
  if (c.hides !== undefined) expect(`${err.message}${JSON.stringify(err.details)}`).not.toContain(c.hides);
  expect(err.message).not.toMatch(/\n\s+at /); // never a stack trace
  expect(stray).toEqual([]);
  ran += 1;
}

const open =
  (name: string, options: Parameters<typeof openKeystore>[1] = {}) =>
  () =>
    openKeystore(fixture(name), options);

/** A JWK whose certificate parses but whose public key does not decode (one bit of its SPKI flipped). */
function jwkWithDamagedCertificateKey(): Buffer {
  const bytes = fixture('jwk-ec256-x5c.json');
  bytes[520]! ^= 1;
  return bytes;
}

const KEYSTORE_CASES: Case[] = [
  {
    name: 'an empty keystore',
    run: () => openKeystore(new Uint8Array(0)),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /^the keystore is empty; check the file or secret it comes from$/,
  },
  {
    name: 'a truncated JKS',
    run: open('java-truncated.jks', { password: 'changeit' }),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /JKS|truncated|ends|short/i,
  },
  {
    name: 'a truncated PKCS#12',
    run: open('p12-truncated.p12', { password: 'changeit' }),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /PKCS#12|truncated|ends|damaged/i,
  },
  {
    name: 'random bytes',
    run: () => openKeystore(new Uint8Array(randomBytes(4096)).map((b, i) => (i === 0 ? b & 0x7f : b))),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /^not a keystore: expected JKS, JCEKS, PKCS#12, BKS, PEM, JWK or Google service-account JSON$/,
  },
  {
    name: 'random bytes behind a JKS magic',
    run: open('java-random.jks', { password: 'changeit' }),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /JKS|version|damaged|truncated/i,
  },
  {
    name: 'a JKS with a flipped certificate byte',
    run: open('java-cert-flipped.jks', { password: 'changeit' }),
    code: 'ERR_KEYSTORE_INTEGRITY',
    status: 500,
    message: /integrity check failed although the password is right.*restore it from a good copy/,
  },
  {
    name: 'a PKCS#12 with a flipped byte',
    run: open('p12-flipped.p12', { password: 'changeit' }),
    code: 'ERR_KEYSTORE_INTEGRITY',
    status: 500,
    message: /integrity|altered|damaged/i,
  },
  {
    name: 'a JKS with the wrong store password',
    run: open('java-rsa2048.jks', { password: 'not the password' }),
    code: 'ERR_KEYSTORE_PASSWORD',
    status: 500,
    message: /^wrong keystore password .*check certPassword$/,
  },
  {
    name: 'a PKCS#12 with the wrong store password',
    run: open('p12-keytool-rsa2048.p12', { password: 'not the password' }),
    code: 'ERR_KEYSTORE_PASSWORD',
    status: 500,
    message: /password/i,
  },
  {
    name: 'a JKS key with the wrong key password',
    run: open('java-keypass.jks', { password: 'store pass', keyPassword: 'wrong key pass' }),
    code: 'ERR_KEY_PASSWORD',
    status: 500,
    message: /key password/i,
  },
  {
    name: 'an encrypted PEM key with the wrong passphrase',
    run: open('pem-rsa2048-encrypted.pem', { password: 'not-the-pass-7' }),
    code: 'ERR_KEY_PASSWORD',
    status: 500,
    message: /password|passphrase/i,
  },
  {
    name: 'an unknown alias',
    run: open('java-multi.jks', { password: 'changeit', alias: 'nobody' }),
    code: 'ERR_ALIAS_NOT_FOUND',
    status: 500,
    message: /^alias 'nobody' not found; aliases: /,
  },
  {
    name: 'a trusted-certificate alias chosen as the key',
    run: open('p12-keytool-multi.p12', { password: 'changeit', alias: 'fixture ca' }),
    code: 'ERR_ALIAS_NOT_FOUND',
    status: 500,
    message: /^alias 'fixture ca' is a trusted-cert entry, not a private key entry; private-key aliases: /,
  },
  {
    name: 'several keys and no alias',
    run: open('p12-keytool-multi.p12', { password: 'changeit' }),
    code: 'ERR_ALIAS_REQUIRED',
    status: 500,
    message: /^the keystore holds 2 private keys; choose one with the alias option: /,
  },
  {
    name: 'an RSA-1024 key',
    run: open('pem-rsa1024.pem'),
    code: 'ERR_UNSUPPORTED_KEY',
    status: 500,
    message: /1024|2048/,
  },
  {
    name: 'a secp256k1 key',
    run: open('pem-secp256k1.pem'),
    code: 'ERR_UNSUPPORTED_KEY',
    status: 500,
    message: /secp256k1|curve/i,
  },
  {
    name: 'an Ed448 key',
    run: open('pem-ed448.pem'),
    code: 'ERR_UNSUPPORTED_KEY',
    status: 500,
    message: /Ed448|ed448/,
  },
  {
    name: 'a public-only JWK',
    run: open('jwk-public.json'),
    code: 'ERR_UNSUPPORTED_KEY',
    status: 500,
    message: /private|public/i,
  },
  {
    name: 'a 10 MB file, over the size cap',
    run: () => openKeystore(Buffer.concat([fixture('java-rsa2048.jks'), Buffer.alloc(10 * 1024 * 1024)])),
    code: 'ERR_KEYSTORE_TOO_LARGE',
    status: 500,
    message: /^the keystore is 10\d{6} bytes, over the 1048576-byte limit; give the keystore itself$/,
  },
  {
    name: 'a JKS opened as PKCS#12',
    run: open('java-rsa2048.jks', { password: 'changeit', type: 'pkcs12' }),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /^the keystore is JKS, not PKCS#12; set the type to 'jks' or 'auto'$/,
  },
  {
    name: 'a key whose certificate carries an undecodable public key',
    run: () => openKeystore(jwkWithDamagedCertificateKey()),
    code: 'ERR_KEYSTORE_FORMAT',
    status: 500,
    message: /certificate/i,
  },
];

const PROFILE = `  a:
    issuer: client-1
    certStore: file:./key.pem
    tokenUri: https://auth.example.com/oauth/token
`;

const CONFIG_CASES: Case[] = [
  {
    name: 'a profile without issuer',
    run: () =>
      parseConfig(
        'profiles:\n  a:\n    certStore: file:./k.pem\n    tokenUri: https://a.example.com/t\n',
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": issuer: required$/,
  },
  {
    name: 'a token URI that is not a URL',
    run: () =>
      parseConfig(
        `profiles:\n${PROFILE}`.replace('https://auth.example.com/oauth/token', 'not-a-url'),
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^profile "a": tokenUri: must be an absolute URL such as https:\/\/example.com\/oauth\/token, got "not-a-url"$/,
  },
  {
    name: 'an http token URI to a host that is not loopback',
    run: () => parseConfig(`profiles:\n${PROFILE}`.replace('https://', 'http://'), 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": tokenUri: must use https \(http only for loopback hosts such as 127\.0\.0\.1\)/,
  },
  {
    name: 'a method prefix other than GET or POST',
    run: () => parseConfig(`profiles:\n${PROFILE}`.replace('https://auth', 'PUT https://auth'), 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": tokenUri: method must be GET or POST, got "PUT"$/,
  },
  {
    name: 'a RedirectURI without a port',
    run: () =>
      parseConfig(
        `profiles:\n${PROFILE}    redirectUri: https://broker.example.com/consent/callback\n`,
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": redirectUri: must carry an explicit port/,
  },
  {
    name: 'an unknown key',
    run: () => parseConfig(`profiles:\n${PROFILE}    tokenUrl: https://x.example.com/t\n`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": tokenUrl: unknown key "tokenUrl"; did you mean "tokenUri"\?$/,
  },
  {
    name: 'a duplicate profile',
    run: () => parseConfig(`profiles:\n${PROFILE}${PROFILE}`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^c\.yaml: duplicate key "a" \(line \d+, column \d+\): each profile and key may appear only once$/,
  },
  {
    name: 'an empty config file',
    run: () => parseConfig('', 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^c\.yaml: the file is empty; it needs a "profiles:" mapping$/,
  },
  {
    name: 'a password written inline where its reference belongs',
    run: () => parseConfig(`profiles:\n${PROFILE}    certPassword: hunter2-Secret\n`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^profile "a": certPassword: not a secret reference \(no known scheme\); write secretsmanager:<name-or-arn>\[#field\], file:<path> or env:<VAR>, never the secret itself$/,
    hides: 'hunter2',
  },
  {
    name: 'a client secret and a seal key written inline',
    run: () =>
      parseConfig(
        `profiles:\n${PROFILE}    clientSecret: s3cr3t-client-value\ncache:\n  sealKey: 0123456789abcdef-seal\n`,
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": clientSecret: not a secret reference .*\ncache\.sealKey: not a secret reference /,
    hides: 's3cr3t-client-value',
  },
  {
    name: 'an ftp token URI with user:password@',
    run: () =>
      parseConfig(
        `profiles:\n${PROFILE}`.replace('https://auth', 'ftp://deploy:ftp-Pa55word@auth'),
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^profile "a": tokenUri: must be an https URL, got "ftp:\/\/auth\.example\.com\/oauth\/token"$/,
    hides: 'ftp-Pa55word',
  },
  {
    name: 'a token URI that does not parse, with user info',
    run: () =>
      parseConfig(
        `profiles:\n${PROFILE}`.replace('https://auth.example.com', 'https://deploy:Pa55-word@[bad'),
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^profile "a": tokenUri: must be an absolute URL such as https:\/\/example\.com\/oauth\/token, got "https:\/\/\[bad\/oauth\/token"$/,
    hides: 'Pa55-word',
  },
  {
    name: 'a YAML alias bomb',
    run: () =>
      parseConfig(
        'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
          'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n' +
          `profiles:\n${PROFILE}`,
        'c.yaml',
      ),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^c\.yaml: too many aliases \(more than 100 uses of "\*name"\); write the values out$/,
  },
  {
    name: 'a profile named __proto__',
    run: () => parseConfig(`profiles:\n${PROFILE.replace('  a:', '  __proto__:')}`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^profile "__proto__": profile names are letters, digits, "_", "\." and "-" \(at most 64\) \(line 2, column 3\)$/,
  },
  {
    name: 'a __proto__ key inside a profile',
    run: () => parseConfig(`profiles:\n${PROFILE}    headers: { __proto__: x }\n`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message: /^c\.yaml: the key "__proto__" is not allowed \(line 6, column 16\); rename it$/,
  },
  {
    name: 'a profile named callback',
    run: () => parseConfig(`profiles:\n${PROFILE.replace('  a:', '  callback:')}`, 'c.yaml'),
    code: 'ERR_CONFIG',
    status: 500,
    message:
      /^profile "callback": the name "callback" is taken by the consent callback route \(GET \/consent\/callback\); choose another$/,
  },
  {
    name: 'a config file that does not exist',
    run: () => loadConfig({ path: '/nonexistent/token-broker.yaml', env: {}, cwd: '/' }),
    code: 'ERR_CONFIG_NOT_FOUND',
    status: 500,
    message: /^no config file at \/nonexistent\/token-broker\.yaml \(--config\)$/,
  },
];

const importString = (text: string) => () => importDataDirect(parseConnectionString(text));
const DD = 'ClaimsIssuer=c1;JWTCertStore=/k.p12;TokenURI=https://a.example.com/t;';

const CONNECTION_CASES: Case[] = [
  {
    name: 'an unbalanced opening brace',
    run: importString(`${DD}JWTCertPassword={abc;`),
    code: 'ERR_CONNECTION_STRING',
    status: 400,
    message: /^connection string: unbalanced "\{" in the value of JWTCertPassword \(at character \d+\)$/,
  },
  {
    name: 'an unbalanced closing brace',
    run: importString(`${DD}Scope=abc};`),
    code: 'ERR_CONNECTION_STRING',
    status: 400,
    message: /^connection string: unbalanced "\}" in the value of Scope \(at character \d+\)$/,
  },
  {
    name: 'a key given twice with different values',
    run: importString(`${DD}claimsissuer=c2;`),
    code: 'ERR_CONNECTION_STRING',
    status: 400,
    message: /^connection string: claimsissuer is given twice with different values \(at character \d+\)$/,
  },
  {
    name: 'AuthenticationMethod=1',
    run: importString(`AuthenticationMethod=1;${DD}`),
    code: 'ERR_AUTH_METHOD',
    status: 400,
    message: /^AuthenticationMethod "1" is not an OAuth 2\.0 JWT bearer method; token-broker imports 55/,
  },
  {
    name: 'a connection string without TokenURI',
    run: importString('ClaimsIssuer=c1;JWTCertStore=/k.p12;'),
    code: 'ERR_CONNECTION_STRING',
    status: 400,
    message: /^connection string: TokenURI missing; a JWT bearer profile needs each$/,
  },
  {
    name: 'a pair without "="',
    run: importString(`${DD}JustAWord;`),
    code: 'ERR_CONNECTION_STRING',
    status: 400,
    message: /^connection string: a pair has no "="/,
  },
];

describe('bad keystores', () => {
  it.each(KEYSTORE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => expectCase(c));
});

describe('bad configurations', () => {
  it.each(CONFIG_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => expectCase(c));
});

describe('bad connection strings', () => {
  it.each(CONNECTION_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => expectCase(c));
});

describe('bad API requests through the local server', () => {
  const API_KEY = 'hardening-api-key-7f3c';
  const logger = capturingLogger();
  let auth: AuthorizationServer;
  let server: RunningServer;

  beforeAll(async () => {
    auth = await startDevServer([{ clientId: 'client-api' }]);
    const config = harnessConfig(
      {
        api: {
          issuer: 'client-api',
          tokenUrl: auth.tokenUrl,
          subject: 'alice@example.com',
          subjects: ['*@example.com'],
          scope: 'read write',
          callers: ['team-billing'],
        },
      },
      `server:\n  apiKeys: { "${hashApiKey(API_KEY)}": team-billing }\n`,
    );
    server = await startServer({ config, port: 0, logger, broker: harnessBroker(config, { logger }) });
  });
  afterAll(async () => {
    await server.close();
    await auth.close();
  });

  interface ApiCase {
    readonly name: string;
    readonly body: string;
    readonly headers?: Record<string, string>;
    readonly key?: string | null;
    readonly code: ErrorCode;
    readonly status: number;
    readonly message: RegExp;
  }

  const API_CASES: ApiCase[] = [
    {
      name: 'a body that is not JSON',
      body: 'profile=api',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      status: 415,
      message:
        /^the body must be JSON; send Content-Type: application\/json \(got "application\/x-www-form-urlencoded"\)$/,
    },
    {
      name: 'JSON sent as text/plain (a browser form or simple fetch)',
      body: '{"profile": "api"}',
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      status: 415,
      message:
        /^the body must be JSON; send Content-Type: application\/json \(got "text\/plain;charset=UTF-8"\)$/,
    },
    {
      name: 'JSON without a Content-Type',
      body: '{"profile": "api"}',
      headers: { 'content-type': '' },
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      status: 415,
      message: /^the body must be JSON; send Content-Type: application\/json \(got none\)$/,
    },
    {
      name: 'a request from a foreign web page (Origin)',
      body: '{"profile": "api"}',
      headers: { origin: 'http://attacker.test' },
      code: 'ERR_FORBIDDEN',
      status: 403,
      message:
        /^requests from the web page origin "http:\/\/attacker\.test" are refused; the local server serves programs, not pages$/,
    },
    {
      name: 'an opaque Origin (a sandboxed frame or file: page)',
      body: '{"profile": "api"}',
      headers: { origin: 'null' },
      code: 'ERR_FORBIDDEN',
      status: 403,
      message: /^requests from the web page origin "null" are refused/,
    },
    ...(
      [
        [
          'a control character',
          'alice\u0000@example.com',
          /^subject holds the control or format character U\+0000; /,
        ],
        [
          'a bidi override',
          'alice\u202e@example.com',
          /^subject holds the control or format character U\+202E; /,
        ],
        [
          'a zero-width space',
          'ali\u200bce@example.com',
          /^subject holds the control or format character U\+200B; /,
        ],
        ['a leading space', ' alice@example.com', /^subject starts or ends with whitespace; /],
        [
          'a trailing newline',
          'alice@example.com\n',
          /^subject holds the control or format character U\+000A; /,
        ],
      ] as const
    ).map(([what, subject, message]): ApiCase => ({
      name: `a subject with ${what}`,
      body: JSON.stringify({ profile: 'api', subject }),
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: new RegExp(`${message.source}send the subject exactly as the provider knows it$`),
    })),
    {
      name: 'a subject of 257 characters',
      body: JSON.stringify({ profile: 'api', subject: `${'a'.repeat(245)}@example.com` }),
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^subject: must be a non-empty string of at most 256 characters$/,
    },
    {
      name: 'a subject that ends in the allowed domain after another @',
      body: JSON.stringify({ profile: 'api', subject: 'evil@attacker.test@example.com' }),
      code: 'ERR_SUBJECT_NOT_ALLOWED',
      status: 403,
      message: /^subject "evil@attacker\.test@example\.com" is not allowed for profile "api"/,
    },
    {
      name: 'malformed JSON',
      body: '{"profile": "api"',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^the body is not valid JSON; send a JSON object such as \{"profile":"NAME"\}$/,
    },
    {
      name: 'an empty body',
      body: '',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^the body is empty; send a JSON object/,
    },
    {
      name: 'a profile that is a number',
      body: '{"profile": 5}',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^profile: required, a profile name \(1 to 128 characters\)$/,
    },
    {
      name: 'a minTtl that is a string',
      body: '{"profile": "api", "minTtl": "60"}',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^minTtl: must be an integer number of seconds from 0 to 3600$/,
    },
    {
      name: 'a JSON array',
      body: '["api"]',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^body: must be a JSON object \{profile, subject, scope, minTtl, rejected\}$/,
    },
    {
      name: 'an unknown field',
      body: '{"profile": "api", "audience": "elsewhere"}',
      code: 'ERR_INVALID_REQUEST',
      status: 400,
      message: /^unknown field "audience"; allowed fields: profile, subject, scope, minTtl, rejected$/,
    },
    {
      name: 'a 1 MB body',
      body: JSON.stringify({ profile: 'api', subject: 'x'.repeat(1024 * 1024) }),
      code: 'ERR_BODY_TOO_LARGE',
      status: 413,
      message: /^the body is larger than 16384 bytes; send only \{profile, subject, scope, minTtl\}$/,
    },
    {
      name: 'an unknown profile',
      body: '{"profile": "nope"}',
      code: 'ERR_UNKNOWN_PROFILE',
      status: 404,
      message: /^unknown profile "nope"; ask for a profile the broker's configuration defines$/,
    },
    {
      name: 'a subject the profile does not allow',
      body: '{"profile": "api", "subject": "mallory@evil.example"}',
      code: 'ERR_SUBJECT_NOT_ALLOWED',
      status: 403,
      message: /^subject "mallory@evil\.example" is not allowed for profile "api"/,
    },
    {
      name: "a scope wider than the profile's",
      body: '{"profile": "api", "scope": "read admin"}',
      code: 'ERR_SCOPE_NOT_ALLOWED',
      status: 403,
      message: /^scope "admin" is not allowed for profile "api"; ask within "read write"$/,
    },
    {
      name: 'no caller identity (no API key)',
      body: '{"profile": "api"}',
      key: null,
      code: 'ERR_UNAUTHENTICATED',
      status: 403,
      message: /^the request carries no caller identity; sign it with IAM credentials \(SigV4\)/,
    },
    {
      name: 'an unknown API key',
      body: '{"profile": "api"}',
      key: 'not-a-configured-key',
      code: 'ERR_UNAUTHENTICATED',
      status: 403,
      message: /^the request carries no caller identity/,
    },
  ];

  it.each(API_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = logger.lines.length;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...c.headers };
    if (c.key !== null) headers['authorization'] = `Bearer ${c.key ?? API_KEY}`;
    // An empty header is one left out; a byte body keeps fetch from adding a content type.
    for (const [name, value] of Object.entries(headers)) if (value === '') delete headers[name];
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers,
      body: headers['content-type'] === undefined ? Buffer.from(c.body) : c.body,
    });
    const body = (await res.json()) as { error: string; message: string };
    expect(res.status).toBe(c.status);
    expect(body.error).toBe(HTTP_ERRORS[c.code].error);
    expect(body.message).toMatch(c.message);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const logged = logger.lines.slice(before).find((line) => line.fields['code'] !== undefined);
    expect(logged?.fields['code']).toBe(c.code);
    expect(HTTP_ERRORS[c.code].status).toBe(c.status);
    // The server survives: the next request is answered.
    const health = await fetch(`${server.url}/health`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(health.status).toBe(200);
    expect(stray).toEqual([]);
    ran += 1;
  });

  it('answers 403 ERR_UNAUTHENTICATED from the Lambda handler when API Gateway passes no IAM identity', async () => {
    const handler = createTokenHandler({
      broker: { issue: () => Promise.reject(new Error('must not be called')) },
      logger,
    });
    for (const userArn of [undefined, 'arn:aws:s3:::not-a-principal', 'not an arn']) {
      const before = logger.lines.length;
      const result = await handler(apiEvent({ body: '{"profile":"api"}', userArn }), lambdaContext());
      expect(result.statusCode).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'forbidden' });
      expect(JSON.parse(result.body).message).toMatch(
        /^the (request carries no caller identity|caller is not an IAM user or role)/,
      );
      expect(logger.lines.slice(before).at(-1)?.fields['code']).toBe('ERR_UNAUTHENTICATED');
      ran += 1;
    }
  });
});

describe('bad provider responses through the broker', () => {
  let endpoint: FaultServer;
  let elsewhere: FaultServer;
  beforeAll(async () => {
    endpoint = await startFaultServer([json(500, {})]);
    elsewhere = await startFaultServer([json(200, { access_token: 'stolen', token_type: 'Bearer' })]);
  });
  afterAll(async () => {
    await endpoint.close();
    await elsewhere.close();
  });

  function broker() {
    const config = harnessConfig({
      p: { issuer: 'client-p', tokenUrl: endpoint.url, subject: 'alice@example.com', callers: ['*'] },
    });
    // A fixed clock, so expires_in reads exactly what the broker believed.
    return harnessBroker(config, { clock: () => 1_900_000_000_000 });
  }
  const caller = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
  const issue = () => broker().issue({ profile: 'p', caller });

  interface UpstreamCase {
    readonly name: string;
    readonly answer: () => FaultStep;
    readonly code: ErrorCode;
    readonly status: number;
    readonly message: RegExp;
    readonly requests: number;
  }

  const UPSTREAM_CASES: UpstreamCase[] = [
    {
      name: 'an HTML page with status 200',
      answer: () => raw(200, 'text/html', '<html><body>Sign in</body></html>'),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message:
        /^the token endpoint answered a body that is not a JSON object \(HTTP 200, text\/html\); check the profile's tokenUri$/,
      requests: 1,
    },
    {
      name: 'truncated JSON',
      answer: () => raw(200, 'application/json', '{"access_token": "abc", "token_ty'),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message:
        /^the token endpoint answered a body that is not a JSON object \(HTTP 200, application\/json\)/,
      requests: 1,
    },
    {
      name: 'no access_token',
      answer: () => json(200, { token_type: 'Bearer', expires_in: 3600 }),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message: /^the token endpoint answered no access_token string \(HTTP 200, application\/json\)/,
      requests: 1,
    },
    {
      name: 'a negative expires_in',
      answer: () => json(200, { access_token: 'a1', token_type: 'Bearer', expires_in: -5 }),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message: /^the token endpoint answered an expires_in that is not a number ≥ 0/,
      requests: 1,
    },
    {
      name: 'expires_in "abc"',
      answer: () => json(200, { access_token: 'a1', token_type: 'Bearer', expires_in: 'abc' }),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message: /^the token endpoint answered an expires_in that is not a number ≥ 0/,
      requests: 1,
    },
    {
      name: 'a 302 redirect to another host',
      answer: () => raw(302, 'text/plain', '', { location: elsewhere.url }),
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message: /^the token endpoint answered a redirect, which is not followed \(HTTP 302/,
      requests: 1,
    },
    {
      name: 'a 10 MB body',
      answer: () => (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        for (let i = 0; i < 10; i++) res.write(chunk);
        res.end('{}');
      },
      code: 'ERR_UPSTREAM_INVALID_RESPONSE',
      status: 502,
      message: /^the token endpoint answered a body larger than 65536 bytes/,
      requests: 1,
    },
    {
      name: 'a reset connection',
      answer: () => (req) => req.socket.destroy(),
      code: 'ERR_UPSTREAM_UNAVAILABLE',
      status: 503,
      message:
        /^could not reach the token endpoint http:\/\/127\.0\.0\.1:\d+\/token .*\(3 attempts\); check the URL and the network$/,
      requests: 3,
    },
    {
      name: 'an OAuth error',
      answer: () => json(400, { error: 'invalid_grant', error_description: 'user not found' }),
      code: 'ERR_UPSTREAM_REJECTED',
      status: 502,
      message: /^the token endpoint refused the request \(HTTP 400\): invalid_grant \(user not found\)$/,
      requests: 1,
    },
  ];

  it.each(UPSTREAM_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    endpoint.answer(c.answer());
    const before = endpoint.count();
    const err = await rejection(issue);
    expect(err.code).toBe(c.code);
    expect(HTTP_ERRORS[err.code].status).toBe(c.status);
    expect(err.message).toMatch(c.message);
    expect(endpoint.count() - before).toBe(c.requests);
    expect(elsewhere.count()).toBe(0); // a redirect never takes the assertion elsewhere
    expect(stray).toEqual([]);
    ran += 1;
  });

  it('caps an expires_in of 1e12 at one day instead of failing every request', async () => {
    endpoint.answer(json(200, { access_token: 'capped-1', token_type: 'bearer', expires_in: 1e12 }));
    const token = await issue();
    expect(token).toMatchObject({ token_type: 'Bearer', expires_in: 86_400, cached: false });
    ran += 1;
  });
});

describe('the local server refuses names and signatures that are not its own', () => {
  let auth: AuthorizationServer;
  let server: RunningServer;
  const logger = capturingLogger();

  beforeAll(async () => {
    auth = await startDevServer([{ clientId: 'client-host' }]);
    const config = harnessConfig({
      h: { issuer: 'client-host', tokenUrl: auth.tokenUrl, subject: 'alice@example.com', callers: ['local'] },
    });
    server = await startServer({ config, port: 0, logger, broker: harnessBroker(config, { logger }) });
  });
  afterAll(async () => {
    await server.close();
    await auth.close();
  });

  /** A raw request, so the Host header is exactly the one given (or none at all). */
  function rawPost(host: string | undefined): Promise<{ status: number; body: Record<string, string> }> {
    return new Promise((resolve, reject) => {
      const body = '{"profile":"h"}';
      const lines = [
        // Without Host, HTTP/1.0: Node itself answers an HTTP/1.1 request without one 400.
        `POST /token HTTP/1.${host === undefined ? 0 : 1}`,
        ...(host === undefined ? [] : [`Host: ${host}`]),
        'Content-Type: application/json',
        `Content-Length: ${body.length}`,
        'Connection: close',
      ];
      const socket = connect(server.port, '127.0.0.1', () =>
        socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`),
      );
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        resolve({
          status,
          body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>,
        });
      });
    });
  }

  const HOST_CASES = [
    {
      name: 'a rebound name (DNS rebinding)',
      host: () => `attacker.test:${server.port}`,
      message: () =>
        `Host "attacker.test:${server.port}" is not a name of this server; call it as http://127.0.0.1:${server.port}`,
    },
    {
      name: 'a loopback name with another port',
      host: () => `127.0.0.1:${server.port + 1}`,
      message: () =>
        `Host "127.0.0.1:${server.port + 1}" is not a name of this server; call it as http://127.0.0.1:${server.port}`,
    },
    {
      name: 'no Host header',
      host: () => undefined,
      message: () =>
        `the request has no Host header; call the local server as http://127.0.0.1:${server.port}`,
    },
  ];

  it.each(HOST_CASES.map((c) => [c.name, c] as const))(
    'refuses %s with 403 ERR_FORBIDDEN',
    async (_name, c) => {
      const before = auth.requestCount();
      const logged = logger.lines.length;
      const res = await rawPost(c.host());
      expect(res.status).toBe(HTTP_ERRORS.ERR_FORBIDDEN.status);
      expect(res.body).toEqual({ error: 'forbidden', message: c.message() });
      expect(auth.requestCount()).toBe(before);
      expect(logger.lines.slice(logged)).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: 'request refused',
          fields: expect.objectContaining({ code: 'ERR_FORBIDDEN', reason: c.message() }),
        }),
      );
      ran += 1;
    },
  );

  it.each(['127.0.0.1', 'localhost', 'LOCALHOST', '[::1]'])('serves Host %s with its port', async (name) => {
    const res = await rawPost(`${name}:${server.port}`);
    expect(res.status).toBe(200);
    expect(res.body['access_token']).toEqual(expect.any(String));
  });

  it('refuses a SigV4 signature made for another host with 403 ERR_UNAUTHENTICATED', async () => {
    const request = await signedPost({ url: 'https://attacker.test/token' });
    const err = await rejection(() =>
      verifySigV4(request, verifyOptions(Date.now, new Set(['127.0.0.1:8787']))),
    );
    expect(err.code).toBe('ERR_UNAUTHENTICATED');
    expect(HTTP_ERRORS[err.code].status).toBe(403);
    expect(err.message).toBe(
      'SigV4 authentication failed: the request is signed for host "attacker.test"; sign it for 127.0.0.1:8787',
    );
    // The same signature verifies where its host is the server's.
    await expect(
      verifySigV4(request, verifyOptions(Date.now, new Set(['attacker.test:443']))),
    ).resolves.toEqual({
      id: CALLER_ARN,
      kind: 'iam',
    });
    ran += 1;
  });
});

describe('consent routes under attack', () => {
  const BROKER = 'https://broker.example.com:443';
  const ALICE = 'alice@example.com';
  let authorization: AuthorizationServer;
  let offset = 0;
  const clock = () => Date.now() + offset;

  beforeAll(async () => {
    authorization = await startAuthorizationServer({
      clients: [
        {
          clientId: CLIENT_ID,
          certificatePem: await demoCertificate(),
          requireConsent: true,
          redirectUris: [`${BROKER}/consent/callback`],
          clientSecret: CLIENT_SECRET,
        },
      ],
      audience: ['token-broker-test'],
    });
  });
  afterAll(() => authorization.close());

  async function routes(options: { clientSecret?: boolean; limit?: number } = {}) {
    offset = 0;
    authorization.revokeConsent(CLIENT_ID, ALICE);
    authorization.resetRequests();
    const config = await consentConfig({
      tokenUrl: authorization.tokenUrl,
      authorizeUrl: authorization.authorizeUrl,
      brokerUrl: BROKER,
      ...(options.clientSecret === false && { clientSecret: false }),
    });
    const secrets = createSecretResolver({ env: {}, cwd: dirname(config.source) });
    const broker = createBroker({ config, secrets, clock });
    const store = createMemoryConsentStore(clock, options.limit);
    const logger = capturingLogger();
    const flow = setupConsent({ config, broker, secrets, ephemeralStateKey: true, store, clock, logger });
    const start = createConsentStartHandler({ flow, logger });
    const callback = createConsentCallbackHandler({ flow, logger });
    const host = { host: 'broker.example.com' };
    const begin = (profile: string, query: Record<string, string> = {}) =>
      start(
        {
          ...apiEvent({ routeKey: 'GET /consent/{profile}' }),
          headers: host,
          rawPath: `/consent/${profile}`,
          pathParameters: { profile },
          queryStringParameters: query,
        },
        lambdaContext(),
      );
    /** Starts, approves at the provider as alice and returns the callback's query and cookie. */
    const approve = async (query: Record<string, string> = {}) => {
      const started = await begin('consent', query);
      expect(started.statusCode).toBe(302);
      const location = new URL(started.headers['Location']!);
      const form = new URLSearchParams(location.searchParams);
      form.set('login', ALICE);
      form.set('decision', 'approve');
      const res = await fetch(authorization.authorizeUrl, { method: 'POST', body: form, redirect: 'manual' });
      const back = new URL(res.headers.get('location')!);
      return {
        query: Object.fromEntries(back.searchParams),
        cookie: started.cookies![0]!.split(';')[0]!,
        state: location.searchParams.get('state')!,
      };
    };
    const complete = (query: Record<string, string>, cookie: string) =>
      callback(
        {
          ...apiEvent({ routeKey: 'GET /consent/callback' }),
          headers: host,
          rawPath: '/consent/callback',
          queryStringParameters: query,
          cookies: [cookie],
        },
        lambdaContext(),
      );
    return { begin, approve, complete, logger };
  }

  it('refuses new starts with 503 and Retry-After when the memory store is full of live nonces', async () => {
    const { begin, approve, complete } = await routes({ limit: 2 });
    const first = await approve();
    expect((await begin('consent')).statusCode).toBe(302);
    const full = await begin('consent');
    expect(full.statusCode).toBe(HTTP_ERRORS.ERR_CONSENT_BUSY.status);
    expect(full.headers['Retry-After']).toBe('600');
    expect(JSON.parse(full.body)).toEqual({
      error: 'upstream_unavailable',
      message: 'too many consents are under way on this server; try again in 600 s',
      retry_after: 600,
    });
    expect(full.cookies ?? []).toEqual([]);
    // The live nonces were kept: the first consent completes, and its replay is refused.
    expect((await complete(first.query, first.cookie)).statusCode).toBe(200);
    const replay = await complete(first.query, first.cookie);
    expect(replay.statusCode).toBe(400);
    expect(replay.body).toContain('Consent link is not valid: it was already used; start the consent again.');
    // Once the states have expired there is room again.
    offset = 10 * 60 * 1000 + 1;
    expect((await begin('consent')).statusCode).toBe(302);
    ran += 1;
  });

  it('without clientSecret proves at most once per 30 s and never forces a grant over a fresh token', async () => {
    const { approve, complete } = await routes({ clientSecret: false });
    const first = await approve();
    expect((await complete(first.query, first.cookie)).statusCode).toBe(200);
    expect(authorization.requestCount()).toBe(1);
    const again = await approve();
    const limited = await complete(again.query, again.cookie);
    expect(limited.statusCode).toBe(HTTP_ERRORS.ERR_CONSENT_BUSY.status);
    expect(limited.body).toContain('This consent was checked moments ago; try again in 30 s.');
    expect(authorization.requestCount()).toBe(1);
    offset = PROOF_INTERVAL_MS;
    const later = await approve();
    expect((await complete(later.query, later.cookie)).statusCode).toBe(200);
    expect(authorization.requestCount()).toBe(1); // the token held is fresh: no new grant
    ran += 1;
  });

  it.each([
    ['an unknown profile', 'nope', { subject: ALICE }],
    ['a profile without a consent step', 'plain', { subject: ALICE }],
    ['a subject the profile does not allow', 'consent', { subject: 'mallory@evil.example' }],
    ['a subject with a zero-width space', 'consent', { subject: 'ali\u200bce@example.com' }],
  ])('answers %s like every other start refusal', async (_name, profile, query) => {
    const { begin, logger } = await routes();
    const res = await begin(profile, query);
    expect(res.statusCode).toBe(HTTP_ERRORS.ERR_UNKNOWN_PROFILE.status);
    expect(JSON.parse(res.body)).toEqual({ error: 'unknown_profile', message: START_REFUSED_MESSAGE });
    expect(res.headers['Location']).toBeUndefined();
    expect(logger.lines.some((l) => l.message === 'consent start refused')).toBe(true);
    ran += 1;
  });

  it("keeps the profile's default subject out of the readable state", async () => {
    const { approve, complete } = await routes();
    const { state, query, cookie } = await approve();
    const payload = Buffer.from(state.split('.')[1]!, 'base64url').toString('utf8');
    expect(JSON.parse(payload)).toMatchObject({ profile: 'consent', subject: '' });
    expect(state).not.toContain(Buffer.from(ALICE).toString('base64url').slice(0, 8));
    expect(payload).not.toContain('alice');
    const done = await complete(query, cookie);
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain(ALICE); // the callback still knows whose consent it was
    ran += 1;
  });
});
