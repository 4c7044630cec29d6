import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { KeystoreError } from '../errors.ts';

/** base64url SHA-1 and SHA-256 thumbprints of a certificate's DER. */
export interface Thumbprints {
  /** @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.7 */
  readonly x5t: string;
  /** @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.8 */
  readonly x5tS256: string;
}

/** Computes the `x5t` and `x5t#S256` thumbprints of a DER certificate. */
export function thumbprints(der: Uint8Array): Thumbprints {
  return {
    x5t: createHash('sha1').update(der).digest('base64url'),
    x5tS256: createHash('sha256').update(der).digest('base64url'),
  };
}

const certificateSpki = new WeakMap<X509Certificate, Buffer>();

/**
 * Parses DER certificates into Node certificates.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when one is damaged.
 */
export function parseCertificates(ders: readonly Uint8Array[], alias: string): X509Certificate[] {
  return ders.map((der, index) => {
    try {
      const certificate = new X509Certificate(der);
      // A certificate can parse while its public key does not decode; read it now so the
      // damage is reported here, as a format error, and never later as an untyped one.
      certificateSpki.set(certificate, spkiOf(certificate.publicKey));
      return certificate;
    } catch (cause) {
      throw new KeystoreError(
        'ERR_KEYSTORE_FORMAT',
        `certificate ${index + 1} of entry '${alias}' is damaged; export the certificate chain again`,
        { cause },
      );
    }
  });
}

/** The SubjectPublicKeyInfo DER of a key (a private key gives its public half). */
export function spkiOf(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ type: 'spki', format: 'der' });
}

/** True when the certificate certifies the public key whose SPKI DER is given. */
export function certifiesKey(certificate: X509Certificate, spki: Buffer): boolean {
  let own = certificateSpki.get(certificate);
  if (own === undefined) {
    own = spkiOf(certificate.publicKey);
    certificateSpki.set(certificate, own);
  }
  return own.equals(spki);
}

/**
 * Orders loose certificates (a PEM file, a JWK `x5c`) as a chain: the one certifying the
 * key first, then each issuer found among the rest, then any left over. When none certifies
 * the key the order is kept, so the caller reports the mismatch on the first one.
 */
export function orderChain(certificates: readonly X509Certificate[], spki: Buffer): X509Certificate[] {
  const leafIndex = certificates.findIndex((certificate) => certifiesKey(certificate, spki));
  if (leafIndex <= 0) return [...certificates];
  const rest = certificates.filter((_, index) => index !== leafIndex);
  const chain = [certificates[leafIndex]!];
  for (;;) {
    const last = chain[chain.length - 1]!;
    if (last.issuer === last.subject) break;
    const next = rest.findIndex(
      (candidate) => candidate.subject === last.issuer && last.checkIssued(candidate),
    );
    if (next < 0) break;
    chain.push(rest.splice(next, 1)[0]!);
  }
  return [...chain, ...rest];
}

/** A certificate's validity period (RFC 5280 §4.1.2.5), read once. */
export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Reads a certificate's validity period. */
export function validityOf(certificate: X509Certificate): Validity {
  return { notBefore: new Date(certificate.validFrom), notAfter: new Date(certificate.validTo) };
}

/** Warnings for a certificate outside its validity period at `now` (RFC 5280 §4.1.2.5). */
export function validityWarnings(validity: Validity, alias: string, now: Date): string[] {
  const { notBefore, notAfter } = validity;
  if (now.getTime() > notAfter.getTime())
    return [`certificate of '${alias}' expired on ${notAfter.toISOString()}; providers may reject it`];
  if (now.getTime() < notBefore.getTime())
    return [`certificate of '${alias}' is not yet valid (valid from ${notBefore.toISOString()})`];
  return [];
}
