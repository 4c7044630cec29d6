/**
 * The little DER the Java keystores need, read with the shared ASN.1 reader: the
 * `EncryptedPrivateKeyInfo` around each private key, its PBE parameters, and a shape check
 * of a decrypted PKCS#8 structure.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5208#section-6 (EncryptedPrivateKeyInfo)
 * @see https://www.rfc-editor.org/rfc/rfc8018#appendix-A.3 (PBEParameter)
 */
import {
  Asn1Error,
  INTEGER,
  OCTET_STRING,
  SEQUENCE,
  expect,
  octets,
  oid,
  readElement,
  sequence,
  smallInt,
} from './asn1.ts';

/** A parsed `EncryptedPrivateKeyInfo`. */
export interface EncryptedPrivateKeyInfo {
  /** Protection algorithm OID, dotted. */
  readonly algorithm: string;
  /** DER of the algorithm parameters (empty when absent). */
  readonly parameters: Uint8Array;
  /** The encrypted key. */
  readonly encryptedData: Uint8Array;
}

/**
 * Parses `SEQUENCE { SEQUENCE { OID, params ANY OPTIONAL }, OCTET STRING }`.
 *
 * @throws Asn1Error when the structure is malformed.
 */
export function parseEncryptedPrivateKeyInfo(b: Uint8Array): EncryptedPrivateKeyInfo {
  const what = 'the encrypted private key';
  const [algId, data] = sequence(readElement(b, what, true), what);
  const algorithm = expect(algId, SEQUENCE, `${what}'s algorithm`).content;
  const oidEl = readElement(algorithm, `${what}'s algorithm`, true);
  return {
    algorithm: oid(oidEl, `${what}'s algorithm`),
    parameters: algorithm.subarray(oidEl.raw.length),
    encryptedData: octets(data, `${what}'s data`),
  };
}

/**
 * Parses a PKCS#5 `PBEParameter`: `SEQUENCE { salt OCTET STRING, iterationCount INTEGER }`.
 *
 * @throws Asn1Error when the structure is malformed or the count does not fit 31 bits.
 */
export function parsePbeParameter(b: Uint8Array): { salt: Uint8Array; iterations: number } {
  const what = 'the key protection parameters';
  const [salt, count] = sequence(readElement(b, what, true), what);
  return { salt: octets(salt, `${what}' salt`), iterations: smallInt(count, `${what}' iteration count`) };
}

/**
 * True when `b` is exactly one DER `SEQUENCE { INTEGER, SEQUENCE, OCTET STRING, ... }`,
 * the shape of a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5, RFC 5958 §2).
 */
export function looksLikePkcs8(b: Uint8Array): boolean {
  try {
    const [version, algorithm, key] = sequence(readElement(b, 'key'), 'key');
    expect(version, INTEGER, 'key');
    expect(algorithm, SEQUENCE, 'key');
    expect(key, OCTET_STRING, 'key');
    return true;
  } catch (err) {
    if (err instanceof Asn1Error) return false;
    throw err;
  }
}
