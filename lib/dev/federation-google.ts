/**
 * Google-style workload identity federation: the Security Token Service exchange
 * (`POST /v1/token`, RFC 8693, a form or JSON body as sts.googleapis.com accepts) of an
 * external token for a federated access token, and the IAM Credentials
 * `generateAccessToken` of a service account with that federated token.
 *
 * The trust for an exchange is the one whose `clientId` is the request's `audience` (the
 * provider's resource name `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/R`);
 * the token's `iss` must be the trust's issuer, its `aud` one of the trust's audiences (none
 * configured: the provider's resource name with or without the `https:` prefix, Google's
 * default), and its `sub` the trust's subject (an attribute condition `assertion.sub == …`).
 *
 * @see https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token
 * @see https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
 * @see https://cloud.google.com/iam/docs/troubleshooting-workload-identity-federation
 */
import type { IncomingMessage } from 'node:http';
import {
  audiencesOf,
  FederationRefusal,
  unverifiedClaims,
  type FederationReason,
} from './federation-issuers.ts';
import type { FederatedTrust, FederationAnswer, FederationContext, FederationSeen } from './federation.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:id_token',
];
const PROVIDER =
  /^\/\/iam\.googleapis\.com\/(projects\/\d+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]+)\/providers\/[a-z0-9-]+$/;
const MAX_BODY_BYTES = 64 * 1024;
/** Longest service account token `generateAccessToken` gives without the org policy that extends it. */
const MAX_LIFETIME_SECONDS = 3600;

/** `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`. */
export const GOOGLE_ACCESS_TOKEN_PATH = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/** The principal and the pool's principal set of a federated subject, as IAM bindings name them. */
export function federatedPrincipals(provider: string, subject: string): string[] {
  const pool = `//iam.googleapis.com/${PROVIDER.exec(provider)![1]}`;
  return [`principal:${pool}/subject/${subject}`, `principalSet:${pool}/*`];
}

const stsError = (error: string, description: string): FederationAnswer => ({
  status: 400,
  body: { error, error_description: description },
});

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The request body as text, or undefined past {@link MAX_BODY_BYTES}. */
async function readText(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The exchange's parameters from a form or a JSON body (camelCase or snake_case names). */
async function readParams(req: IncomingMessage): Promise<Map<string, string> | FederationAnswer> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const text = await readText(req);
  if (text === undefined)
    return { status: 413, body: { error: 'invalid_request', error_description: 'Request too large.' } };
  if (type === 'application/x-www-form-urlencoded') return new Map(new URLSearchParams(text));
  if (type !== 'application/json') return stsError('invalid_request', 'Unsupported content type.');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return stsError('invalid_request', 'Invalid JSON payload received.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return stsError('invalid_request', 'Invalid JSON payload received.');
  return new Map(
    Object.entries(body).map(([k, v]) => [snake(k), Array.isArray(v) ? v.join(' ') : String(v)]),
  );
}

const REFUSALS: Record<FederationReason, string> = {
  malformed: 'Unable to parse the ID Token.',
  issuer_not_allowed: "Error connecting to the given credential's issuer.",
  issuer_unreachable: "Error connecting to the given credential's issuer.",
  signature: 'Invalid ID Token signature.',
  expired: 'The ID Token has expired.',
  not_yet_valid: 'The ID Token is not yet valid.',
  lifetime: 'The ID Token has an invalid lifetime.',
};

/** The trust for a provider, checked against the token's claims; else the refusal. */
function match(
  trust: FederatedTrust,
  claims: ReturnType<typeof unverifiedClaims>,
): FederationAnswer | undefined {
  if (claims.iss !== trust.issuer)
    return stsError(
      'invalid_grant',
      `The issuer in ID Token ${claims.iss} does not match the expected ones: ${trust.issuer}.`,
    );
  const provider = trust.clientId!;
  const allowed = trust.audiences.length > 0 ? trust.audiences : [provider, `https:${provider}`];
  const audiences = audiencesOf(claims);
  if (!audiences.some((a) => allowed.includes(a)))
    return stsError(
      'invalid_grant',
      `The audience in ID Token [${audiences.join(', ')}] does not match the expected audience.`,
    );
  if (claims.sub !== trust.subject)
    return stsError('unauthorized_client', 'The given credential is rejected by the attribute condition.');
  return undefined;
}

/**
 * `POST /v1/token`: an external token for a federated access token.
 * Refusals answer 400 `{error, error_description}` as Google's STS does.
 */
export async function googleSts(
  context: FederationContext,
  req: IncomingMessage,
  seen: FederationSeen,
): Promise<FederationAnswer> {
  if (req.method !== 'POST')
    return { status: 405, body: { error: 'invalid_request', error_description: 'POST only.' } };
  const params = await readParams(req);
  if (!(params instanceof Map)) return params;
  const grant = params.get('grant_type');
  if (grant !== undefined) seen.grant = grant;
  if (grant !== TOKEN_EXCHANGE) return stsError('unsupported_grant_type', 'Invalid value for "grant_type".');
  if (params.get('requested_token_type') !== ACCESS_TOKEN_TYPE)
    return stsError('invalid_request', 'Invalid value for "requested_token_type".');
  if (!SUBJECT_TOKEN_TYPES.includes(params.get('subject_token_type') ?? ''))
    return stsError('invalid_request', 'Invalid value for "subject_token_type".');
  const audience = params.get('audience') ?? '';
  if (!PROVIDER.test(audience))
    return stsError(
      'invalid_request',
      'Invalid value for "audience". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.',
    );
  seen.clientId = audience;
  const jwt = params.get('subject_token');
  if (!jwt) return stsError('invalid_request', 'Missing required parameter: "subject_token".');
  const scope = params.get('scope');
  if (!scope) return stsError('invalid_request', 'Missing required parameter: "scope".');
  const trust = context.options.trusts.find((t) => t.clientId === audience);
  if (!trust)
    return stsError(
      'invalid_target',
      'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
    );
  let claims;
  try {
    claims = unverifiedClaims(jwt);
  } catch {
    return stsError('invalid_grant', REFUSALS.malformed);
  }
  seen.trust = claims.iss;
  if (typeof claims.sub === 'string') seen.subject = claims.sub;
  const refused = match(trust, claims);
  if (refused) return refused;
  try {
    await context.keys.verify(jwt, trust.issuer);
  } catch (err) {
    if (err instanceof FederationRefusal) return stsError('invalid_grant', REFUSALS[err.reason]);
    throw err;
  }
  const { token } = context.issue({ clientId: audience, subject: trust.subject, scope }, context.tokenTtl);
  return {
    status: 200,
    body: {
      access_token: token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: context.tokenTtl,
    },
  };
}

const googleError = (
  code: number,
  status: string,
  message: string,
  details?: unknown[],
): FederationAnswer => ({
  status: code,
  body: { error: { code, message, status, ...(details && { details }) } },
});

const unauthenticated = () =>
  googleError(
    401,
    'UNAUTHENTICATED',
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  );

const denied = () =>
  googleError(
    403,
    'PERMISSION_DENIED',
    "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
    [
      {
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'IAM_PERMISSION_DENIED',
        domain: 'iam.googleapis.com',
        metadata: { permission: 'iam.serviceAccounts.getAccessToken' },
      },
    ],
  );

/** RFC 3339 without fractional seconds, as Google writes `expireTime`. */
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` with a federated token
 * as the bearer: `{scope: [...], lifetime: "<n>s"}` answers `{accessToken, expireTime}`.
 */
export async function googleGenerateAccessToken(
  context: FederationContext,
  req: IncomingMessage,
  pathname: string,
  seen: FederationSeen,
): Promise<FederationAnswer> {
  seen.grant = 'generateAccessToken';
  const email = decodeURIComponent(GOOGLE_ACCESS_TOKEN_PATH.exec(pathname)![1]!);
  seen.clientId = email;
  if (req.method !== 'POST') return googleError(405, 'METHOD_NOT_ALLOWED', 'POST only.');
  const bearer = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
  const federated = bearer === undefined ? undefined : context.lookup(bearer);
  if (!federated || !PROVIDER.test(federated.clientId)) return unauthenticated();
  seen.subject = federated.subject;
  const raw = await readText(req);
  let body: { scope?: unknown; lifetime?: unknown };
  try {
    body = JSON.parse(raw ?? '') as typeof body;
    if (typeof body !== 'object' || body === null) throw new TypeError('not an object');
  } catch {
    return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
  }
  const scopes = body.scope;
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    !scopes.every((s) => typeof s === 'string' && s !== '')
  )
    return googleError(400, 'INVALID_ARGUMENT', 'Scope required.');
  const lifetime = body.lifetime === undefined ? `${MAX_LIFETIME_SECONDS}s` : body.lifetime;
  const seconds =
    typeof lifetime === 'string' && /^\d+(\.\d+)?s$/.test(lifetime) ? Number(lifetime.slice(0, -1)) : NaN;
  if (!(seconds >= 1 && seconds <= MAX_LIFETIME_SECONDS))
    return googleError(
      400,
      'INVALID_ARGUMENT',
      `The lifetime must be between 1s and ${MAX_LIFETIME_SECONDS}s, for example "3600s".`,
    );
  const accounts = context.options.serviceAccounts;
  if (accounts !== undefined) {
    const account = accounts.find((a) => a.email === email);
    const principals = federatedPrincipals(federated.clientId, federated.subject);
    if (!account || !account.members.some((m) => principals.includes(m))) return denied();
  }
  const { token, expiresAt } = context.issue(
    { clientId: email, subject: email, scope: (scopes as string[]).join(' ') },
    Math.floor(seconds),
  );
  return { status: 200, body: { accessToken: token, expireTime: rfc3339(expiresAt) } };
}
