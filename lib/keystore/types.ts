import type { KeyObject, X509Certificate } from 'node:crypto';

/** Keystore formats the broker opens; `auto` detects the format from the bytes. */
export type KeystoreType = 'auto' | 'jks' | 'jceks' | 'pkcs12' | 'bks' | 'pem' | 'jwk' | 'google-json';

/** A detected (concrete) keystore format. */
export type KeystoreFormat = Exclude<KeystoreType, 'auto'>;

/** JWS algorithms the broker signs with (RFC 7518 §3.1, RFC 8037), as values. */
export const JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** JWS algorithms the broker signs with (RFC 7518 §3.1, RFC 8037). */
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

/** What kind of entry a keystore holds under one alias. */
export type EntryKind = 'private-key' | 'trusted-cert' | 'secret-key';

/** Options for {@link OpenKeystore} and {@link ListKeystore}. */
export interface OpenKeystoreOptions {
  /** Format; default `auto` (detected from the bytes). */
  readonly type?: KeystoreType;
  /** Store password (JKS/JCEKS/PKCS#12) or PEM/PKCS#8 passphrase. */
  readonly password?: string;
  /** Key password when it differs from the store password; default: the store password. */
  readonly keyPassword?: string;
  /** Alias to open; default: the only private-key entry. Matched case-insensitively. */
  readonly alias?: string;
  /**
   * JWS algorithm wanted: `auto` (default) picks RS256 for RSA, ES256/384/512 by curve,
   * EdDSA for Ed25519. An explicit value must suit the key (PS256 for RSA, say).
   */
  readonly algorithm?: 'auto' | JwsAlgorithm;
  /** A certificate (PEM or DER) kept beside a PEM key that has none in its own file. */
  readonly certificate?: Uint8Array | string;
  /** Clock for validity warnings; default `new Date()`. */
  readonly now?: Date;
}

/** An opened private key, ready to sign. Holds no secret but `privateKey`. */
export interface KeyMaterial {
  /** Alias as stored (JKS/JCEKS lower-case, PKCS#12 friendly name, JWK kid, or `key` for PEM). */
  readonly alias: string;
  /** Detected format. */
  readonly format: KeystoreFormat;
  /** The private key. */
  readonly privateKey: KeyObject;
  /** The certificate chain, leaf first; empty when the store holds none (bare PEM key, JWK). */
  readonly certificates: readonly X509Certificate[];
  /** JWS algorithm to sign with. */
  readonly jwsAlgorithm: JwsAlgorithm;
  /** base64url SHA-1 thumbprint of the leaf certificate's DER (RFC 7515 §4.1.7), when there is one. */
  readonly x5t: string | undefined;
  /** base64url SHA-256 thumbprint of the leaf certificate's DER (RFC 7515 §4.1.8), when there is one. */
  readonly x5tS256: string | undefined;
  /** Leaf certificate expiry, when there is a certificate. */
  readonly notAfter: Date | undefined;
  /** Key id carried by the source (JWK `kid`, Google `private_key_id`), when any. */
  readonly kid: string | undefined;
  /** Client identity carried by the source (Google `client_email`), when any. */
  readonly clientEmail: string | undefined;
  /** Human-readable warnings (expired or not-yet-valid certificate, weak legacy protection…). */
  readonly warnings: readonly string[];
}

/** One entry of a keystore as listed by `keystore inspect`. Holds no secret. */
export interface KeystoreEntry {
  readonly alias: string;
  readonly kind: EntryKind;
  /** `RSA`, `EC`, `Ed25519`, `AES`… when known. */
  readonly keyAlgorithm: string | undefined;
  /** Key size in bits (RSA modulus, EC field size), when known. */
  readonly keySize: number | undefined;
  /** Curve name for EC keys (`P-256`…). */
  readonly curve: string | undefined;
  /** Default JWS algorithm for a private key entry. */
  readonly jwsAlgorithm: JwsAlgorithm | undefined;
  readonly subject: string | undefined;
  readonly issuer: string | undefined;
  readonly notBefore: Date | undefined;
  readonly notAfter: Date | undefined;
  readonly x5tS256: string | undefined;
}

/** Result of listing a store. */
export interface KeystoreListing {
  readonly format: KeystoreFormat;
  readonly entries: readonly KeystoreEntry[];
  readonly warnings: readonly string[];
}

/**
 * Format-neutral view of a parsed store, produced by the per-format parsers
 * (`jks.ts`, `jceks.ts`, `pkcs12.ts`, `pem.ts`, `jwk.ts`) and consumed by the opener,
 * which picks the alias, decrypts the key, checks it against the certificate and
 * computes thumbprints. Parsers verify the store password / integrity when they parse.
 */
export interface RawStore {
  readonly format: KeystoreFormat;
  readonly entries: readonly RawEntry[];
  /** Store-level warnings (e.g. legacy RC2-40 protection). */
  readonly warnings: readonly string[];
  /**
   * The store read only as far as opening `alias` needs, for a format that pays a key
   * derivation to tell one entry's kind (BKS sealed entries): every entry whose alias
   * matches `alias` case-insensitively, in store order, and any others that cost nothing.
   * The opener takes its entry from here when this names a private key, else from `entries`.
   */
  readonly named?: (alias: string) => RawStore;
}

/** One entry of a {@link RawStore}. */
export interface RawEntry {
  readonly alias: string;
  readonly kind: EntryKind;
  /** Certificate chain as DER, leaf first (trusted-cert entries: the one certificate). */
  readonly certificates: readonly Uint8Array[];
  /**
   * For private-key entries: decrypts the key with the given password and returns it.
   * Throws `ERR_KEY_PASSWORD` when the password is wrong.
   */
  readonly decryptKey?: (password: string | undefined) => KeyObject;
  /** Extra identity carried by the source (JWK kid, Google private_key_id / client_email). */
  readonly kid?: string;
  readonly clientEmail?: string;
  /** For secret-key entries: the algorithm name, when the store records it. */
  readonly secretAlgorithm?: string;
  /** JWS algorithm the source names for the key (JWK `alg`), used when the caller asks for `auto`. */
  readonly algorithm?: JwsAlgorithm;
}

/** Opens one private key from a store. */
export type OpenKeystore = (bytes: Uint8Array, options?: OpenKeystoreOptions) => Promise<KeyMaterial>;

/** Lists a store's entries. */
export type ListKeystore = (bytes: Uint8Array, options?: OpenKeystoreOptions) => Promise<KeystoreListing>;
