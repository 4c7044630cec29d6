/** DPoP proofs (RFC 9449 §4.2) as a caller makes them, signed with jose, for the broker's tests. */
import { randomUUID } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
} from 'jose';

/** A caller's DPoP key pair. */
export interface ProofKey {
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
  /** RFC 7638 SHA-256 thumbprint of the public key. */
  readonly thumbprint: string;
}

/** A fresh key pair for `alg` (default ES256). */
export async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

/** What goes into a proof; everything but the key has a default a valid proof needs. */
export interface ProofOptions {
  readonly htu: string;
  readonly htm?: string;
  /** Epoch seconds; default now. */
  readonly iat?: number;
  readonly jti?: string;
  readonly nonce?: string;
  /** Header fields to set or override (`typ`, `alg`, `jwk`, …). */
  readonly header?: Partial<JWTHeaderParameters> & Record<string, unknown>;
  /** Claims to set or override; `undefined` removes one. */
  readonly claims?: Record<string, unknown>;
}

/** A signed proof. */
export async function makeProof(key: ProofKey, options: ProofOptions): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: options.jti ?? randomUUID(),
    htm: options.htm ?? 'POST',
    htu: options.htu,
    iat: options.iat ?? Math.floor(Date.now() / 1000),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...options.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({
      typ: 'dpop+jwt',
      alg: key.alg,
      jwk: key.jwk,
      ...options.header,
    } as JWTHeaderParameters)
    .sign(key.privateKey);
}
