/**
 * The client's DPoP key (RFC 9449): a non-extractable ES256 key pair made with WebCrypto,
 * one per client instance, that signs proofs for the provider's token endpoint and for
 * the caller's own resource requests.
 */

/** What a proof says besides the key. */
export interface ProofClaims {
  /** Server-provided nonce (RFC 9449 §8, §9), when one was asked for. */
  readonly nonce?: string | undefined;
  /** The access token the request carries: its hash goes in `ath` (RFC 9449 §7.1). */
  readonly accessToken?: string | undefined;
}

/** The public JWK members of a P-256 key, in RFC 7638 order. */
interface PublicJwk {
  readonly crv: string;
  readonly kty: string;
  readonly x: string;
  readonly y: string;
}

const encoder = new TextEncoder();

function base64url(bytes: ArrayBuffer | Uint8Array | string): string {
  const data = typeof bytes === 'string' ? encoder.encode(bytes) : new Uint8Array(bytes);
  return Buffer.from(data).toString('base64url');
}

/** The URI without query and fragment, as `htu` wants it (RFC 9449 §4.2). */
export function htuOf(url: string | URL): string {
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:')
    throw new TypeError(`a DPoP proof is for an http(s) URL, got ${target.protocol}`);
  target.search = '';
  target.hash = '';
  target.username = '';
  target.password = '';
  return target.href;
}

/** A DPoP key pair whose private half never leaves WebCrypto. */
export class DpopKey {
  readonly #privateKey: CryptoKey;
  readonly #jwk: PublicJwk;
  readonly #clock: () => number;
  /** RFC 7638 SHA-256 thumbprint of the public key (`jkt`). */
  readonly thumbprint: string;

  private constructor(privateKey: CryptoKey, jwk: PublicJwk, thumbprint: string, clock: () => number) {
    this.#privateKey = privateKey;
    this.#jwk = jwk;
    this.thumbprint = thumbprint;
    this.#clock = clock;
  }

  /**
   * Makes a new ES256 key pair; the private key is not extractable.
   * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
   */
  static async generate(clock: () => number = Date.now): Promise<DpopKey> {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ]);
    const exported = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const jwk: PublicJwk = { crv: exported.crv!, kty: exported.kty!, x: exported.x!, y: exported.y! };
    const digest = await crypto.subtle.digest('SHA-256', encoder.encode(JSON.stringify(jwk)));
    return new DpopKey(pair.privateKey, jwk, base64url(digest), clock);
  }

  /**
   * A proof for one request: `htm` the method, `htu` the URL without query and fragment,
   * a new `jti`, `iat` now, and `nonce` and `ath` when given.
   *
   * @throws TypeError when `url` is not an http(s) URL.
   * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.2
   */
  async proof(method: string, url: string | URL, claims: ProofClaims = {}): Promise<string> {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: this.#jwk };
    const payload: Record<string, unknown> = {
      jti: crypto.randomUUID(),
      htm: method,
      htu: htuOf(url),
      iat: Math.floor(this.#clock() / 1000),
    };
    if (claims.nonce !== undefined) payload['nonce'] = claims.nonce;
    if (claims.accessToken !== undefined) {
      const hash = await crypto.subtle.digest('SHA-256', encoder.encode(claims.accessToken));
      payload['ath'] = base64url(hash);
    }
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    // WebCrypto's ECDSA signature is r || s, the JWS form (RFC 7518 §3.4).
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      this.#privateKey,
      encoder.encode(input),
    );
    return `${input}.${base64url(signature)}`;
  }
}
