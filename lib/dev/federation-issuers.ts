/**
 * How the development authorization server checks a JWT from an external issuer, as a
 * provider that trusts that issuer does (an Entra federated identity credential, a Google
 * workload identity pool provider): OpenID discovery at `<iss>/.well-known/openid-configuration`,
 * the keys at its `jwks_uri` (cached per issuer; refetched once when a token names a `kid` the
 * cache lacks, which is how a provider follows the issuer's key rotation), then the signature
 * and the time claims.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 * @see https://learn.microsoft.com/entra/workload-id/workload-identity-federation
 * @see https://cloud.google.com/iam/docs/workload-identity-federation-with-other-providers
 */
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { readCappedBody } from '../exchange/response.ts';
import { LEEWAY_SECONDS } from './verify-assertion.ts';

/** Algorithms a federated token may be signed with (what AWS outbound federation issues). */
export const FEDERATED_ALGORITHMS = ['RS256', 'ES384'] as const;

/**
 * Longest accepted `exp - iat`, seconds. Neither provider's documentation we found states a
 * cap for federated tokens; a day bounds a replayed token here, and AWS issues at most an hour.
 */
export const MAX_FEDERATED_LIFETIME = 24 * 3600;

/** Largest discovery document or JWKS read, bytes: real ones are a few KiB. */
export const MAX_ISSUER_DOCUMENT_BYTES = 64 * 1024;

/** How long a fetched JWKS is used before it is fetched again, milliseconds. */
export const JWKS_MAX_AGE_MS = 60 * 60 * 1000;

/** One fetch of an issuer's documents, as recorded. */
export interface IssuerFetchRecord {
  readonly issuer: string;
  readonly document: 'openid-configuration' | 'jwks';
  /** The HTTP status, or undefined when the request failed. */
  readonly status: number | undefined;
}

/** Why a federated token is refused; each flow words it as its provider does. */
export type FederationReason =
  | 'malformed' // not a JWT, no iss
  | 'issuer_not_allowed' // an http issuer without allowHttpIssuer, or not on loopback
  | 'issuer_unreachable' // discovery or JWKS could not be fetched or read
  | 'signature' // no key for its kid after one refetch, a bad signature, another alg
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime'; // exp - iat past MAX_FEDERATED_LIFETIME, or no exp

/** A federated token that does not verify. The message never holds the token. */
export class FederationRefusal extends Error {
  override readonly name = 'FederationRefusal';
  constructor(
    readonly reason: FederationReason,
    message: string,
  ) {
    super(message);
  }
}

/** The claims of a JWT before verification (to find the trust to check it against). */
export function unverifiedClaims(jwt: string): JWTPayload & { readonly iss: string } {
  let payload: JWTPayload;
  try {
    decodeProtectedHeader(jwt);
    payload = decodeJwt(jwt);
  } catch {
    throw new FederationRefusal('malformed', 'the token is not a JWT');
  }
  if (typeof payload.iss !== 'string' || payload.iss === '')
    throw new FederationRefusal('malformed', 'the token has no iss');
  return payload as JWTPayload & { readonly iss: string };
}

/** The `aud` claim as a list. */
export const audiencesOf = (payload: JWTPayload): string[] =>
  typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

function allowedUrl(value: string, allowHttp: boolean): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.search !== '' || url.hash !== '') return false;
  return url.protocol === 'https:' || (allowHttp && url.protocol === 'http:' && LOOPBACK.has(url.hostname));
}

/** Options of {@link createIssuerKeys}. */
export interface IssuerKeysOptions {
  /** Accept `http:` issuers and JWKS URIs on loopback (tests, the demo). */
  readonly allowHttpIssuer: boolean;
  readonly clock: () => number;
  readonly record: (fetch: IssuerFetchRecord) => void;
}

/** Verifies federated tokens with the keys their issuers publish. */
export interface IssuerKeys {
  /**
   * Checks signature (RS256 or ES384, a key of the issuer's JWKS), `exp` (required), `nbf`
   * and `iat` with {@link LEEWAY_SECONDS}, and a lifetime of at most {@link MAX_FEDERATED_LIFETIME}.
   * `iss`, `sub` and `aud` are the caller's to match against its trust.
   *
   * @throws FederationRefusal
   */
  verify(jwt: string, issuer: string): Promise<JWTPayload>;
}

interface Cached {
  readonly keys: ReturnType<typeof createLocalJWKSet>;
  readonly fetchedAt: number;
}

/** Issuer keys with a per-issuer JWKS cache; concurrent loads of one issuer share one fetch. */
export function createIssuerKeys(options: IssuerKeysOptions): IssuerKeys {
  const cache = new Map<string, Cached>();
  const loading = new Map<string, Promise<Cached>>();

  async function getJson(issuer: string, document: IssuerFetchRecord['document'], url: string) {
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(5_000),
      });
    } catch {
      options.record({ issuer, document, status: undefined });
      throw new FederationRefusal('issuer_unreachable', `the ${document} of ${issuer} could not be fetched`);
    }
    options.record({ issuer, document, status: response.status });
    if (!response.ok)
      throw new FederationRefusal(
        'issuer_unreachable',
        `the ${document} of ${issuer} answered ${response.status}`,
      );
    let text: string;
    try {
      text = await readCappedBody(response, MAX_ISSUER_DOCUMENT_BYTES);
    } catch {
      throw new FederationRefusal(
        'issuer_unreachable',
        `the ${document} of ${issuer} could not be read within ${MAX_ISSUER_DOCUMENT_BYTES} bytes`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new FederationRefusal('issuer_unreachable', `the ${document} of ${issuer} is not JSON`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new FederationRefusal('issuer_unreachable', `the ${document} of ${issuer} is not a JSON object`);
    return parsed as Record<string, unknown>;
  }

  async function fetchKeys(issuer: string): Promise<Cached> {
    const discovery = await getJson(
      issuer,
      'openid-configuration',
      `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    );
    // OpenID Connect Discovery §4.3: the document's issuer must be the one asked for.
    if (discovery['issuer'] !== issuer)
      throw new FederationRefusal(
        'issuer_unreachable',
        `the discovery document of ${issuer} names another issuer`,
      );
    const jwksUri = discovery['jwks_uri'];
    if (typeof jwksUri !== 'string' || !allowedUrl(jwksUri, options.allowHttpIssuer))
      throw new FederationRefusal(
        'issuer_unreachable',
        `the discovery document of ${issuer} has no usable jwks_uri`,
      );
    const jwks = await getJson(issuer, 'jwks', jwksUri);
    if (!Array.isArray(jwks['keys']))
      throw new FederationRefusal('issuer_unreachable', `the JWKS of ${issuer} has no keys`);
    return { keys: createLocalJWKSet(jwks as unknown as JSONWebKeySet), fetchedAt: options.clock() };
  }

  function load(issuer: string, fresh: boolean): Promise<Cached> {
    const cached = cache.get(issuer);
    if (!fresh && cached && options.clock() - cached.fetchedAt < JWKS_MAX_AGE_MS)
      return Promise.resolve(cached);
    let pending = loading.get(issuer);
    if (!pending) {
      pending = fetchKeys(issuer).then(
        (entry) => {
          cache.set(issuer, entry);
          loading.delete(issuer);
          return entry;
        },
        (err: unknown) => {
          loading.delete(issuer);
          throw err;
        },
      );
      loading.set(issuer, pending);
    }
    return pending;
  }

  return {
    async verify(jwt, issuer) {
      if (!allowedUrl(issuer, options.allowHttpIssuer))
        throw new FederationRefusal('issuer_not_allowed', `the issuer ${issuer} is not an https URL`);
      let refetched = false;
      const key: JWTVerifyGetKey = async (header, token) => {
        try {
          return await (await load(issuer, false)).keys(header, token);
        } catch (err) {
          if (!(err instanceof errors.JWKSNoMatchingKey) || refetched) throw err;
          refetched = true;
          return (await load(issuer, true)).keys(header, token);
        }
      };
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(jwt, key, {
          algorithms: [...FEDERATED_ALGORITHMS],
          clockTolerance: LEEWAY_SECONDS,
          currentDate: new Date(options.clock()),
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        throw refusalOf(err);
      }
      const now = Math.floor(options.clock() / 1000);
      if (payload.iat !== undefined && payload.iat > now + LEEWAY_SECONDS)
        throw new FederationRefusal('not_yet_valid', 'the token is not yet valid (iat is in the future)');
      if (payload.exp! - (payload.iat ?? now) > MAX_FEDERATED_LIFETIME)
        throw new FederationRefusal(
          'lifetime',
          `the token is valid for more than ${MAX_FEDERATED_LIFETIME} seconds`,
        );
      return payload;
    },
  };
}

function refusalOf(err: unknown): FederationRefusal {
  if (err instanceof FederationRefusal) return err;
  if (err instanceof errors.JWTExpired)
    return new FederationRefusal('expired', 'the token has expired (exp)');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf')
      return new FederationRefusal('not_yet_valid', 'the token is not yet valid (nbf)');
    if (err.claim === 'exp') return new FederationRefusal('lifetime', 'the token has no exp');
  }
  if (err instanceof errors.JWKSNoMatchingKey)
    return new FederationRefusal('signature', "no key of the issuer's JWKS matches the token's kid");
  if (err instanceof errors.JOSEAlgNotAllowed)
    return new FederationRefusal(
      'signature',
      `the token alg is not one of ${FEDERATED_ALGORITHMS.join(', ')}`,
    );
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new FederationRefusal('signature', "the token signature does not verify with the issuer's key");
  return new FederationRefusal('malformed', 'the token is not a valid signed JWT');
}
