import * as z from 'zod';
import { PROVIDER_NAMES } from './presets.ts';
import { JWS_ALGORITHMS } from '../keystore/types.ts';

const text = z.string().trim().min(1, 'must not be empty');
const textList = z.array(text);
/** Space-separated in YAML (`scope: a b`), or a list. */
const spaceList = z.union([z.string(), textList]);

const ALGORITHMS = ['auto', ...JWS_ALGORITHMS] as const;
const KEYSTORE_TYPES = ['auto', 'jks', 'jceks', 'pkcs12', 'bks', 'pem', 'jwk', 'google-json'] as const;
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const seconds = z.number().int('must be a whole number of seconds');

/** Longest assertion lifetime a profile may ask for, seconds (one day). */
export const MAX_ASSERTION_LIFETIME = 86_400;

/** Token response fields the broker sets itself: not for `responseFields` (nor is `refresh_token`). */
export const RESERVED_RESPONSE_FIELDS = [
  'access_token',
  'token_type',
  'expires_in',
  'expires_at',
  'scope',
  'cached',
  'error',
  'message',
] as const;

/** Token request parameters the broker sets itself: not for `params`. */
export const RESERVED_PARAMS = [
  'grant_type',
  'assertion',
  'client_assertion',
  'client_assertion_type',
  'scope',
] as const;

export const FIELD_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Names an object's machinery answers to, not a provider's field: `__proto__` would do nothing. */
const OBJECT_NAMES = ['__proto__', 'constructor', 'prototype'] as const;

const assertionSchema = z.strictObject({
  lifetime: seconds
    .positive('must be above 0')
    .max(MAX_ASSERTION_LIFETIME, `must be at most ${MAX_ASSERTION_LIFETIME} (one day)`)
    .optional(),
  typ: z
    .string()
    .regex(
      /^[A-Za-z0-9!#$&^_.+-]{1,64}(\/[A-Za-z0-9!#$&^_.+-]{1,64})?$/,
      'must be a media type such as JWT or client-authentication+jwt',
    )
    .optional(),
  skew: seconds.min(0, 'must be 0 or more').max(600, 'must be at most 600').optional(),
  algorithm: z.enum(ALGORITHMS).optional(),
  x5t: z.boolean().optional(),
  x5tS256: z.boolean().optional(),
  x5c: z.boolean().optional(),
  kid: z.union([text, z.boolean()]).optional(),
  claims: z.record(z.string(), z.unknown()).optional(),
});

/** An RFC 8693 token type identifier (§3): a URI such as `urn:ietf:params:oauth:token-type:jwt`. */
const tokenTypeUri = z
  .string()
  .trim()
  .regex(
    /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/,
    'must be a token type URI such as urn:ietf:params:oauth:token-type:jwt',
  );
/** An RFC 8693 §2.1 `resource`: an absolute URI without a fragment. */
const resourceUri = z
  .string()
  .trim()
  .refine(
    (value) => /^[A-Za-z][A-Za-z0-9+.-]*:[^\s#]+$/.test(value) && URL.canParse(value),
    'must be an absolute URI without a fragment (RFC 8693 §2.1)',
  );

const tokenExchangeSchema = z.strictObject({
  subjectTokenType: tokenTypeUri.optional(),
  requestedTokenType: tokenTypeUri.optional(),
  audience: z.union([text, z.array(text).min(1, 'must not be empty')]).optional(),
  resource: z.union([resourceUri, z.array(resourceUri).min(1, 'must not be empty')]).optional(),
});

/** Signing algorithms STS `GetWebIdentityToken` offers. */
export const WEB_IDENTITY_ALGORITHMS = ['RS256', 'ES384'] as const;
/** STS tag keys and values (the `Tag` shape of the STS API). */
const STS_TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const STS_TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;

/** `webIdentity`: the JWT STS `GetWebIdentityToken` signs for the function's own role (docs/keyless.md). */
/** One STS `Audience` value: 1 to 1000 characters. */
const stsAudience = text.max(1000, 'must be at most 1000 characters (STS)');
const webIdentitySchema = z.strictObject({
  // One value or a list; a single value is read as a list of one, so the limits speak plainly.
  audience: z
    .preprocess(
      (value) => (typeof value === 'string' ? [value] : value),
      z.array(stsAudience).min(1, 'must not be empty').max(10, 'at most 10 audiences (STS)'),
    )
    .optional(),
  algorithm: z.enum(WEB_IDENTITY_ALGORITHMS).optional(),
  lifetime: seconds.min(60, 'must be at least 60 (STS)').max(3600, 'must be at most 3600 (STS)').optional(),
  tags: z
    .record(
      z.string().regex(STS_TAG_KEY, 'tag keys are 1 to 128 letters, digits, spaces or _.:/=+-@'),
      z.string().regex(STS_TAG_VALUE, 'tag values are at most 256 letters, digits, spaces or _.:/=+-@'),
    )
    .refine((value) => Object.keys(value).length <= 50, 'at most 50 tags')
    .optional(),
  fallback: z.enum(['keystore']).optional(),
});

/** `impersonate`: the google-wif second step, a service account's access token. */
const impersonateSchema = z.strictObject({
  serviceAccount: z
    .string()
    .trim()
    .regex(
      /^[a-z0-9-]+@[a-z0-9.-]+\.gserviceaccount\.com$/,
      'must be a service account e-mail such as broker@my-project.iam.gserviceaccount.com',
    ),
  lifetime: seconds.min(1, 'must be above 0').max(43_200, 'must be at most 43200 (12 hours)').optional(),
  url: text.optional(),
});

const refreshSchema = z.strictObject({
  subjects: textList.optional(),
  before: seconds.positive('must be above 0').optional(),
});

const rotationSchema = z.strictObject({
  tryPending: z.boolean().optional(),
});

/**
 * A standard SNS topic ARN, for the template's per-profile event rule. A FIFO topic
 * (`….fifo`) needs a message group the rule does not set.
 */
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const emailAddress = z
  .string()
  .trim()
  .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, 'must be an e-mail address');

/** Where a profile's events go and when they fire (lib/events). */
const notifySchema = z.strictObject({
  topicArn: z
    .string()
    .trim()
    .refine(
      (value) => !value.endsWith('.fifo'),
      'names a FIFO topic, which needs a message group the rule does not set; name a standard topic',
    )
    .regex(SNS_TOPIC_ARN, 'must be an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:team-alerts')
    .optional(),
  email: z.union([emailAddress, z.array(emailAddress).min(1, 'must not be empty')]).optional(),
  refreshFailures: z.number().int('must be a whole number').min(1, 'must be 1 or more').optional(),
  certificateDays: z
    .array(z.number().int('must be whole days').min(0, 'must be 0 or more'))
    .min(1, 'must not be empty')
    .optional(),
  subject: z.enum(['plain', 'fingerprint']).optional(),
});

const consentErrorSchema = z.strictObject({
  error: text,
  descriptionIncludes: text.optional(),
});

/** One profile as written (DESIGN.md "Profile"), before presets and defaults. */
const profileSchema = z.strictObject({
  provider: z.enum(PROVIDER_NAMES as [string, ...string[]]).optional(),
  issuer: text,
  clientId: text.optional(),
  subject: text.optional(),
  subjects: textList.optional(),
  tokenUri: text.optional(),
  /** Entra directory (tenant id or domain) for the preset's token URI. */
  tenant: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9.-]+$/, 'must be a tenant id or domain')
    .optional(),
  audience: z.union([text, z.array(text).min(1, 'must not be empty')]).optional(),
  scope: spaceList.optional(),
  scopeIn: z.enum(['assertion', 'form']).optional(),
  certStore: text,
  certStoreType: z.enum(KEYSTORE_TYPES).optional(),
  certPassword: text.optional(),
  certAlias: text.optional(),
  keyPassword: text.optional(),
  certificate: text.optional(),
  redirectUri: text.optional(),
  authUri: text.optional(),
  clientSecret: text.optional(),
  headers: z
    .record(
      z.string().regex(HEADER_NAME, 'header names are HTTP tokens'),
      z.string().regex(/^[^\r\n]*$/, 'must be one line'),
    )
    .optional(),
  grant: z.enum(['jwt-bearer', 'client-assertion', 'token-exchange']).optional(),
  tokenExchange: tokenExchangeSchema.optional(),
  /** Keyless (`certStore: aws:web-identity`) or keystore with `fallback: keystore`. */
  webIdentity: webIdentitySchema.optional(),
  /** google-wif: the workload identity pool provider, `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<id>`. */
  workloadIdentityProvider: z
    .string()
    .trim()
    .regex(
      /^(\/\/iam\.googleapis\.com\/)?projects\/\d+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}\/providers\/[a-z0-9-]{4,32}$/,
      'must be projects/<project number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>',
    )
    .optional(),
  impersonate: impersonateSchema.optional(),
  assertion: assertionSchema.optional(),
  callers: textList.optional(),
  refresh: refreshSchema.optional(),
  rotation: rotationSchema.optional(),
  consentScopes: spaceList.optional(),
  consentErrors: z.array(consentErrorSchema).optional(),
  pkce: z.boolean().optional(),
  responseFields: z
    .array(
      z
        .string()
        .regex(FIELD_NAME, 'field names are letters, digits, "_", ".", ":" and "-" (at most 64)')
        .refine((name) => name !== 'refresh_token', 'refresh_token is never passed on; remove it')
        .refine(
          (name) => !(OBJECT_NAMES as readonly string[]).includes(name),
          'names part of a JavaScript object, not a provider field; remove it',
        )
        .refine(
          (name) => !(RESERVED_RESPONSE_FIELDS as readonly string[]).includes(name),
          "is a field of the broker's own answer; remove it",
        ),
    )
    .max(32, 'at most 32 fields')
    .optional(),
  params: z
    .record(
      z
        .string()
        .regex(FIELD_NAME, 'parameter names are letters, digits, "_", ".", ":" and "-" (at most 64)')
        .refine(
          (name) => !(RESERVED_PARAMS as readonly string[]).includes(name),
          'is set by the broker itself; remove it',
        ),
      z.string().regex(/^[^\r\n]*$/, 'must be one line'),
    )
    .refine((value) => Object.keys(value).length <= 32, 'at most 32 parameters')
    .optional(),
  tokenType: z.enum(['bearer', 'any']).optional(),
  scopeCheck: z.enum(['lenient', 'strict']).optional(),
  dpop: z.enum(['off', 'optional', 'required']).optional(),
  /** Token, auth and redirect URIs may be at private, link-local or metadata addresses. */
  allowPrivateNetwork: z.boolean().optional(),
  notify: notifySchema.optional(),
});

const cacheSchema = z.strictObject({
  store: z.enum(['memory', 'dynamodb']).optional(),
  table: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name')
    .optional(),
  endpoint: text.optional(),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1')
    .optional(),
  sealKey: text.optional(),
  refreshMargin: seconds.min(0, 'must be 0 or more').optional(),
});

export const consentSchema = z.strictObject({
  stateKey: text.optional(),
  baseUrl: text.optional(),
});

const serverSchema = z.strictObject({
  apiKeys: z
    .record(z.string().regex(/^sha256:[0-9a-f]{64}$/, 'keys are "sha256:<64 lower-case hex>"'), text)
    .optional(),
  sigv4: z
    .strictObject({
      region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as eu-west-1'),
      credentials: z.record(
        z.string().regex(/^[A-Z0-9]{16,128}$/, 'access key ids are upper-case letters and digits'),
        z.strictObject({ secret: text, caller: text }),
      ),
    })
    .optional(),
});

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** What the profile-name rule says when a name breaks it. */
export const PROFILE_NAME_RULE = 'profile names are letters, digits, "_", "." and "-" (at most 64)';
/** Names the consent routes take: `GET /consent/callback` would never reach the profile's start. */
const RESERVED_PROFILE_NAMES = new Set(['callback']);

/** The whole file as written. */
export const configSchema = z.strictObject({
  profiles: z.record(
    z
      .string()
      .regex(PROFILE_NAME, PROFILE_NAME_RULE)
      .refine(
        (name) => !RESERVED_PROFILE_NAMES.has(name),
        'the name "callback" is taken by the consent callback route (GET /consent/callback); choose another',
      ),
    profileSchema,
  ),
  cache: cacheSchema.optional(),
  consent: consentSchema.optional(),
  server: serverSchema.optional(),
});

export type RawConfig = z.infer<typeof configSchema>;
export type RawProfile = z.infer<typeof profileSchema>;

/** Known keys of each object, for "did you mean". Indexed by the object's path pattern. */
const KNOWN_KEYS = {
  root: Object.keys(configSchema.shape),
  profile: Object.keys(profileSchema.shape),
  assertion: Object.keys(assertionSchema.shape),
  tokenExchange: Object.keys(tokenExchangeSchema.shape),
  webIdentity: Object.keys(webIdentitySchema.shape),
  impersonate: Object.keys(impersonateSchema.shape),
  refresh: Object.keys(refreshSchema.shape),
  rotation: Object.keys(rotationSchema.shape),
  notify: Object.keys(notifySchema.shape),
  consentError: Object.keys(consentErrorSchema.shape),
  cache: Object.keys(cacheSchema.shape),
  consent: Object.keys(consentSchema.shape),
  server: Object.keys(serverSchema.shape),
  sigv4: ['region', 'credentials'],
  sigv4Credential: ['secret', 'caller'],
} as const;

/** Known keys of the object at `path` (a zod issue path). */
export function knownKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const p = path.map(String);
  if (p.length === 0) return KNOWN_KEYS.root;
  if (p[0] === 'profiles') {
    if (p.length === 2) return KNOWN_KEYS.profile;
    if (p[2] === 'assertion') return KNOWN_KEYS.assertion;
    if (p[2] === 'tokenExchange') return KNOWN_KEYS.tokenExchange;
    if (p[2] === 'webIdentity') return KNOWN_KEYS.webIdentity;
    if (p[2] === 'impersonate') return KNOWN_KEYS.impersonate;
    if (p[2] === 'refresh') return KNOWN_KEYS.refresh;
    if (p[2] === 'rotation') return KNOWN_KEYS.rotation;
    if (p[2] === 'notify') return KNOWN_KEYS.notify;
    if (p[2] === 'consentErrors') return KNOWN_KEYS.consentError;
  }
  if (p[0] === 'cache') return KNOWN_KEYS.cache;
  if (p[0] === 'consent') return KNOWN_KEYS.consent;
  if (p[0] === 'server') {
    if (p.length === 1) return KNOWN_KEYS.server;
    if (p.length === 2) return KNOWN_KEYS.sigv4;
    return KNOWN_KEYS.sigv4Credential;
  }
  return [];
}
