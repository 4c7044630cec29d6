/**
 * Entra-style federated client credentials: `grant_type=client_credentials` with
 * `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, the external
 * token as `client_assertion` and the app's `client_id`. The app's federated identity
 * credentials (the trusts whose `clientId` is that `client_id`) are searched for one whose
 * issuer, subject and audience match the token's `iss`, `sub` and `aud` exactly (case
 * sensitive); the token is then checked with the issuer's published keys. Refusals are
 * `invalid_client` (400) with the AADSTS code Entra answers in `error_description` and
 * `error_codes`.
 *
 * @see https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential
 * @see https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
import { randomUUID } from 'node:crypto';
import {
  audiencesOf,
  FederationRefusal,
  unverifiedClaims,
  type FederationReason,
} from './federation-issuers.ts';
import { FederationFailure } from './federation-failure.ts';
import type { FederationContext, FederationSeen } from './federation.ts';

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Entra's status for these refusals. */
const STATUS = 400;

/** An Entra error answer: `AADSTS<code>: <message>` plus trace fields, as Entra words it. */
export function entraFailure(error: string, code: number, message: string, now: number): FederationFailure {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date(now)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  return new FederationFailure(
    error,
    `AADSTS${code}: ${message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    STATUS,
    {
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  );
}

/** The AADSTS code and message for a token that did not verify. */
const REFUSALS: Record<FederationReason, [number, string]> = {
  malformed: [50027, 'JWT token is invalid or malformed.'],
  issuer_not_allowed: [90061, 'Request to External OIDC endpoint failed.'],
  issuer_unreachable: [90061, 'Request to External OIDC endpoint failed.'],
  signature: [700027, 'Client assertion contains an invalid signature.'],
  expired: [700024, 'Client assertion is not within its valid time range.'],
  not_yet_valid: [700024, 'Client assertion is not within its valid time range.'],
  lifetime: [700024, 'Client assertion is not within its valid time range.'],
};

/**
 * Answers a federated client credentials request when `client_id` names a trust; undefined
 * otherwise (a registered client's own key verifies it).
 *
 * @throws FederationFailure `invalid_request` / `invalid_scope` / `invalid_client` with AADSTS codes.
 */
export async function entraClientCredentials(
  context: FederationContext,
  params: URLSearchParams,
  seen: FederationSeen,
): Promise<Record<string, unknown> | undefined> {
  const clientId = params.get('client_id');
  const credentials = context.options.trusts.filter((t) => clientId !== null && t.clientId === clientId);
  if (credentials.length === 0) return undefined;
  seen.clientId = clientId!;
  const now = context.clock();
  const missing = (name: string) =>
    entraFailure(
      'invalid_request',
      900144,
      `The request body must contain the following parameter: '${name}'.`,
      now,
    );
  const scope = params.get('scope');
  if (!scope) throw missing('scope');
  // Client credentials ask for a resource's application permissions: `<resource>/.default`.
  if (!scope.split(' ').every((s) => s.endsWith('/.default')))
    throw entraFailure(
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      now,
    );
  if (params.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) throw missing('client_assertion_type');
  const jwt = params.get('client_assertion');
  if (!jwt) throw missing('client_assertion');

  let claims;
  try {
    claims = unverifiedClaims(jwt);
  } catch {
    throw entraFailure('invalid_client', ...REFUSALS.malformed, now);
  }
  seen.trust = claims.iss;
  if (typeof claims.sub === 'string') seen.subject = claims.sub;
  const byIssuer = credentials.filter((t) => t.issuer === claims.iss);
  if (byIssuer.length === 0)
    throw entraFailure(
      'invalid_client',
      700211,
      `No matching federated identity record found for presented assertion issuer '${claims.iss}'. Please note that the matching is done using a case-sensitive comparison. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      now,
    );
  const bySubject = byIssuer.filter((t) => t.subject === claims.sub);
  if (bySubject.length === 0)
    throw entraFailure(
      'invalid_client',
      700213,
      `No matching federated identity record found for presented assertion subject '${String(claims.sub)}'. Please note that the matching is done using a case-sensitive comparison. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      now,
    );
  const audiences = audiencesOf(claims);
  const trust = bySubject.find((t) => t.audiences.some((a) => audiences.includes(a)));
  if (!trust)
    throw entraFailure(
      'invalid_client',
      700212,
      `No matching federated identity record found for presented assertion audience '${audiences.join(', ')}'. Please note that the matching is done using a case-sensitive comparison. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      now,
    );
  try {
    await context.keys.verify(jwt, trust.issuer);
  } catch (err) {
    if (err instanceof FederationRefusal) throw entraFailure('invalid_client', ...REFUSALS[err.reason], now);
    throw err;
  }
  const { token } = context.issue({ clientId: clientId!, subject: trust.subject, scope }, context.tokenTtl);
  return {
    token_type: 'Bearer',
    expires_in: context.tokenTtl,
    ext_expires_in: context.tokenTtl,
    access_token: token,
  };
}
