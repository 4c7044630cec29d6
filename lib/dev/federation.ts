/**
 * Workload identity federation in the development authorization server: tokens from an
 * external issuer (AWS STS `GetWebIdentityToken`, say) accepted where a provider holds a
 * trust for that issuer, checked as the providers document it.
 *
 * - Entra-style: `client_credentials` with a `client_assertion` whose `client_id` names a
 *   trust (a federated identity credential of that app registration): `iss`, `sub` and one
 *   `aud` must each match the credential exactly, errors carry Entra's AADSTS codes.
 * - Google-style: `POST /v1/token` (Security Token Service, RFC 8693) with the token as
 *   `subject_token` for the provider the `audience` names, then optionally
 *   `POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken` with the federated token.
 * - RFC 7523 §2.1: a `jwt-bearer` assertion from a trusted issuer (a trust without `clientId`).
 *
 * Federated tokens are not checked for `jti` replay: neither provider documents it, and a
 * workload may present one token more than once within its life.
 *
 * @see https://learn.microsoft.com/entra/workload-id/workload-identity-federation
 * @see https://cloud.google.com/iam/docs/workload-identity-federation-with-other-providers
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { entraClientCredentials } from './federation-entra.ts';
import { googleGenerateAccessToken, googleSts, GOOGLE_ACCESS_TOKEN_PATH } from './federation-google.ts';
import {
  audiencesOf,
  createIssuerKeys,
  FederationRefusal,
  unverifiedClaims,
  type IssuerFetchRecord,
  type IssuerKeys,
} from './federation-issuers.ts';
import { OAuthFailure } from './oauth-failure.ts';

export { FederationFailure } from './federation-failure.ts';
export type { IssuerFetchRecord } from './federation-issuers.ts';

/** A trust the provider holds for an external issuer (Entra federated identity credential / Google WIF provider). */
export interface FederatedTrust {
  readonly issuer: string; // must equal the JWT iss exactly
  readonly subject: string; // must equal sub exactly (Entra); Google: the attribute condition `assertion.sub == subject`
  readonly audiences: readonly string[]; // aud must contain one of these (Google: empty = the provider's own name)
  readonly clientId?: string; // Entra: the app's client_id; Google: the provider resource name; none: §2.1 bearer
}

/**
 * A service account a federated principal may impersonate: `members` are the principals
 * granted `roles/iam.workloadIdentityUser` on it, as Google writes them:
 * `principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/subject/S`
 * or `principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/*`.
 */
export interface ImpersonableServiceAccount {
  readonly email: string;
  readonly members: readonly string[];
}

/** `AuthorizationServerOptions.federation`. */
export interface FederationOptions {
  readonly trusts: readonly FederatedTrust[];
  /** Accept `http:` issuers (and JWKS URIs), on loopback only. Default false: https only. */
  readonly allowHttpIssuer?: boolean;
  /** Who may impersonate which service account; default: any federated token, any account. */
  readonly serviceAccounts?: readonly ImpersonableServiceAccount[];
}

/** The federation endpoints besides `/token`, as `RequestRecord.endpoint` names them. */
export type FederationEndpoint = 'google-sts' | 'google-generate-access-token';

/** A token federation issued, for `introspect`. */
export interface FederatedIssue {
  readonly clientId: string;
  readonly subject: string;
  readonly scope: string | undefined;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/** What a federated request revealed, for the request record. */
export interface FederationSeen {
  grant?: string;
  clientId?: string;
  subject?: string;
  /** The issuer of the trust the token was checked against. */
  trust?: string;
}

/** A Google-style endpoint's answer: status and JSON body (errors in Google's shapes). */
export interface FederationAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** What the flows share: the trusts, the issuers' keys, the clock, the tokens issued. */
export interface FederationContext {
  readonly options: FederationOptions;
  readonly keys: IssuerKeys;
  readonly clock: () => number;
  readonly tokenTtl: number;
  /** Issues an opaque access token valid `ttl` seconds and remembers what it stands for. */
  issue(record: Omit<FederatedIssue, 'expiresAt'>, ttl: number): { token: string; expiresAt: number };
  /** A token {@link issue} gave, unexpired. */
  lookup(token: string): FederatedIssue | undefined;
}

/** The federation part of a running development authorization server. */
export interface Federation {
  /** Answers a `/token` request federation owns (Entra-style, §2.1 from a trusted issuer); else undefined. */
  token(
    grant: string | undefined,
    params: URLSearchParams,
    seen: FederationSeen,
  ): Promise<Record<string, unknown> | undefined>;
  /** The federation endpoint `pathname` names, else undefined. */
  endpoint(pathname: string): FederationEndpoint | undefined;
  /** Answers a request to a federation endpoint. */
  answer(
    endpoint: FederationEndpoint,
    req: IncomingMessage,
    pathname: string,
    seen: FederationSeen,
  ): Promise<FederationAnswer>;
  introspect(token: string): FederatedIssue | undefined;
  /** Every discovery and JWKS fetch, oldest first. */
  readonly fetches: readonly IssuerFetchRecord[];
}

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_ISSUED = 10_000;

/** RFC 7523 §2.1 with an assertion from a trusted issuer: `invalid_grant` for any mismatch. */
async function bearer(context: FederationContext, params: URLSearchParams, seen: FederationSeen) {
  const jwt = params.get('assertion') ?? '';
  if (!jwt) return undefined;
  let claims;
  try {
    claims = unverifiedClaims(jwt);
  } catch {
    return undefined; // the registered-client path words it
  }
  const trusts = context.options.trusts.filter((t) => t.clientId === undefined && t.issuer === claims.iss);
  if (trusts.length === 0) return undefined;
  seen.trust = claims.iss;
  seen.clientId = claims.iss;
  if (typeof claims.sub === 'string') seen.subject = claims.sub;
  const bySubject = trusts.filter((t) => t.subject === claims.sub);
  if (bySubject.length === 0)
    throw new OAuthFailure('invalid_grant', `the assertion sub is not trusted for issuer ${claims.iss}`);
  const audiences = audiencesOf(claims);
  const trust = bySubject.find((t) => t.audiences.some((a) => audiences.includes(a)));
  if (!trust)
    throw new OAuthFailure('invalid_grant', 'the assertion aud does not name this authorization server');
  try {
    await context.keys.verify(jwt, trust.issuer);
  } catch (err) {
    if (err instanceof FederationRefusal)
      throw new OAuthFailure('invalid_grant', `the assertion is refused: ${err.message}`);
    throw err;
  }
  const scope = params.get('scope') ?? undefined;
  const { token } = context.issue(
    { clientId: trust.issuer, subject: trust.subject, scope },
    context.tokenTtl,
  );
  return {
    access_token: token,
    token_type: 'Bearer',
    expires_in: context.tokenTtl,
    ...(scope && { scope }),
  };
}

const GOOGLE_STS_PATH = '/v1/token';

/** The federation of a development authorization server. */
export function createFederation(
  options: FederationOptions,
  settings: { readonly clock: () => number; readonly tokenTtl: number },
): Federation {
  const fetches: IssuerFetchRecord[] = [];
  const issued = new Map<string, FederatedIssue>();
  const keys = createIssuerKeys({
    allowHttpIssuer: options.allowHttpIssuer ?? false,
    clock: settings.clock,
    record: (fetch) => {
      if (fetches.length >= MAX_ISSUED) fetches.shift();
      fetches.push(fetch);
    },
  });
  const context: FederationContext = {
    options,
    keys,
    clock: settings.clock,
    tokenTtl: settings.tokenTtl,
    issue(record, ttl) {
      const token = randomBytes(32).toString('base64url');
      const expiresAt = settings.clock() + ttl * 1000;
      if (issued.size >= MAX_ISSUED) issued.delete(issued.keys().next().value!);
      issued.set(token, { ...record, expiresAt });
      return { token, expiresAt };
    },
    lookup(token) {
      const record = issued.get(token);
      return record && record.expiresAt > settings.clock() ? record : undefined;
    },
  };
  return {
    async token(grant, params, seen) {
      if (grant === 'client_credentials') return entraClientCredentials(context, params, seen);
      if (grant === JWT_BEARER) return bearer(context, params, seen);
      return undefined;
    },
    endpoint(pathname) {
      if (pathname === GOOGLE_STS_PATH) return 'google-sts';
      if (GOOGLE_ACCESS_TOKEN_PATH.test(pathname)) return 'google-generate-access-token';
      return undefined;
    },
    answer(endpoint, req, pathname, seen) {
      return endpoint === 'google-sts'
        ? googleSts(context, req, seen)
        : googleGenerateAccessToken(context, req, pathname, seen);
    },
    introspect: (token) => context.lookup(token),
    fetches,
  };
}
