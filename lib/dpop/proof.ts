/**
 * Checks a caller's DPoP proof for the token endpoint the way RFC 9449 §4.3 asks a server
 * to, before the broker forwards it: form, header, signature, claims and freshness.
 */
import { calculateJwkThumbprint, compactVerify, decodeProtectedHeader, importJWK, type JWK } from 'jose';
import { RequestError } from '../errors.ts';
import { htuMatches, normalisedHtu } from './htu.ts';

/** Longest proof accepted, in characters; one with a 4096-bit RSA key is about 2 000. */
export const MAX_PROOF_LENGTH = 8192;
/**
 * How far the proof's `iat` may be from the broker's clock, either way, in seconds.
 * A proof is made just before the request it goes with; a minute absorbs clock drift.
 * Proofs are remembered for replay this long after their `iat`.
 */
export const PROOF_IAT_WINDOW_S = 60;
/** Longest `jti` accepted, in characters (a UUID is 36). */
const MAX_JTI_LENGTH = 256;
/** Largest RSA modulus accepted, in bits; larger keys only cost time to verify. */
const MAX_RSA_BITS = 8192;
/** Largest RSA public exponent accepted, in bytes (65537 is 3): a huge one costs time to verify. */
const MAX_RSA_EXPONENT_BYTES = 4;

/** Registered asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037, RFC 9864) accepted in a proof. */
export const PROOF_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
] as const;

/** JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037; AKP `priv`). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** What the broker expects of a proof. */
export interface ProofExpectations {
  /** The token endpoint's method (`htm`). */
  readonly method: string;
  /** The token endpoint's URI (`htu`, compared without query and fragment). */
  readonly url: string;
  /** The broker's clock, epoch milliseconds. */
  readonly now: number;
}

/** A proof that passed every check. The proof itself is a credential: never log it. */
export interface CheckedProof {
  /** RFC 7638 SHA-256 thumbprint (base64url) of the proof's public key: `jkt`. */
  readonly thumbprint: string;
  readonly jti: string;
  /** Until when the proof is fresh, epoch milliseconds (its `iat` plus the window). */
  readonly freshUntil: number;
}

function refused(what: string, details?: Readonly<Record<string, string>>): RequestError {
  return new RequestError('ERR_DPOP_PROOF', `DPoP proof refused: ${what}`, details && { details });
}

/**
 * What a proof for `endpoint` must say, as the error details that tell a caller
 * (lib/client does this) which `htm` and `htu` to sign.
 */
export function proofTarget(endpoint: { readonly method: string; readonly url: string }): {
  dpop_htm: string;
  dpop_htu: string;
} {
  return { dpop_htm: endpoint.method, dpop_htu: normalisedHtu(endpoint.url) ?? endpoint.url };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The decoded length in bytes of a base64url string. */
function base64urlBytes(value: unknown): number {
  return typeof value === 'string' ? Math.floor((value.length * 3) / 4) : 0;
}

function publicJwk(value: unknown): JWK {
  if (!isRecord(value)) throw refused('the "jwk" header must hold the public key the proof is signed with');
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(value, member)))
    throw refused('its "jwk" header holds private key material; put only the public key there');
  const kty = value['kty'];
  if (kty !== 'EC' && kty !== 'RSA' && kty !== 'OKP')
    throw refused('the "jwk" header must be an EC, RSA or OKP public key');
  if (kty === 'RSA') {
    const bits = base64urlBytes(value['n']) * 8;
    if (bits > MAX_RSA_BITS || base64urlBytes(value['e']) > MAX_RSA_EXPONENT_BYTES)
      throw refused(`RSA keys may have at most ${MAX_RSA_BITS} bits and a public exponent of 4 bytes`);
  }
  return value as JWK;
}

function header(proof: string): { alg: string; jwk: JWK } {
  let parsed: Record<string, unknown>;
  try {
    parsed = decodeProtectedHeader(proof) as Record<string, unknown>;
  } catch {
    throw refused('its header is not base64url-encoded JSON');
  }
  const typ = parsed['typ'];
  if (typeof typ !== 'string' || typ.toLowerCase().replace(/^application\//, '') !== 'dpop+jwt')
    throw refused('its "typ" header must be "dpop+jwt"');
  const alg = parsed['alg'];
  if (typeof alg !== 'string' || !(PROOF_ALGORITHMS as readonly string[]).includes(alg))
    throw refused(
      `its "alg" must be an asymmetric signature algorithm: one of ${PROOF_ALGORITHMS.join(', ')}`,
    );
  return { alg, jwk: publicJwk(parsed['jwk']) };
}

async function verifiedPayload(proof: string, alg: string, jwk: JWK): Promise<Record<string, unknown>> {
  let key: Awaited<ReturnType<typeof importJWK>>;
  try {
    key = await importJWK(jwk, alg);
  } catch {
    throw refused(`its "jwk" header is not a public key usable with ${alg}`);
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(proof, key, { algorithms: [alg] }));
  } catch {
    throw refused('its signature does not verify with the key in its "jwk" header');
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    claims = undefined;
  }
  if (!isRecord(claims)) throw refused('its payload is not a JSON object');
  return claims;
}

/**
 * Checks a DPoP proof meant for the token endpoint (RFC 9449 §4.3): one compact JWS of at
 * most {@link MAX_PROOF_LENGTH} characters; `typ` `dpop+jwt`; an asymmetric `alg` of
 * {@link PROOF_ALGORITHMS}; a `jwk` header holding a public key only, which the signature
 * verifies with; `jti`, `htm`, `htu` and `iat` claims; `htm` the endpoint's method;
 * `htu` the endpoint's URI (without query and fragment, after RFC 3986 normalisation);
 * `iat` within {@link PROOF_IAT_WINDOW_S} of `now`. Replay (`jti`) is the caller's to check.
 *
 * @throws RequestError `ERR_DPOP_PROOF` naming the first check that failed.
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export async function checkProof(proof: string, expected: ProofExpectations): Promise<CheckedProof> {
  const compact = proof.trim();
  // API Gateway and the local server join repeated headers with ",", which no JWS contains.
  if (compact.includes(',')) throw refused('send exactly one DPoP header');
  if (compact.length > MAX_PROOF_LENGTH) throw refused(`it is longer than ${MAX_PROOF_LENGTH} characters`);
  if (!COMPACT_JWS.test(compact)) throw refused('the DPoP header must be one JWT in compact form');
  const { alg, jwk } = header(compact);
  const claims = await verifiedPayload(compact, alg, jwk);

  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH)
    throw refused(`its "jti" must be a unique string of 1 to ${MAX_JTI_LENGTH} characters`);
  if (typeof iat !== 'number' || !Number.isFinite(iat))
    throw refused('its "iat" must be a number of seconds');
  const target = proofTarget(expected);
  if (htm !== expected.method) throw refused(`its "htm" must be "${target.dpop_htm}"`, target);
  if (typeof htu !== 'string' || !htuMatches(htu, expected.url))
    throw refused(`its "htu" must be the profile's token endpoint ${target.dpop_htu}`, target);
  const skew = iat - expected.now / 1000;
  if (Math.abs(skew) > PROOF_IAT_WINDOW_S)
    throw refused(
      `its "iat" is ${Math.round(Math.abs(skew))} s in the ${skew < 0 ? 'past' : 'future'}; ` +
        `sign a new proof (at most ${PROOF_IAT_WINDOW_S} s from the broker's clock)`,
    );
  if (claims['nonce'] !== undefined && typeof claims['nonce'] !== 'string')
    throw refused('its "nonce" must be a string');

  return {
    thumbprint: await calculateJwkThumbprint(jwk, 'sha256'),
    jti,
    freshUntil: (iat + PROOF_IAT_WINDOW_S) * 1000,
  };
}
