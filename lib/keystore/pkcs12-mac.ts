import { createHmac, timingSafeEqual } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { derivePbkdf2, derivePkcs12 } from './work-budget.ts';
import { type Asn1, oid, octets, sequence } from './asn1.ts';
import { HMAC_DIGESTS, iterationCount, type Pkcs12Password, pbkdf2Params } from './pkcs12-cipher.ts';
import { KDF_MAC, type Pkcs12Digest, digestLength } from './pkcs12-kdf.ts';

/** Digest OIDs a MacData may name; some producers name the HMAC OID instead. */
const MAC_DIGESTS: Readonly<Record<string, Pkcs12Digest>> = {
  '1.2.840.113549.2.5': 'md5',
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '2.16.840.1.101.3.4.2.5': 'sha512-224',
  '2.16.840.1.101.3.4.2.6': 'sha512-256',
  ...(HMAC_DIGESTS as Readonly<Record<string, Pkcs12Digest>>),
};

const PBMAC1 = '1.2.840.113549.1.5.14';
const PBKDF2 = '1.2.840.113549.1.5.12';

/** A parsed MacData, ready to check a password against the authenticated content. */
export interface Pkcs12Mac {
  /** Readable name, for warnings. */
  readonly name: string;
  /** True for a SHA-1 or MD5 MAC. */
  readonly legacy: boolean;
  /** True when the password produces the stored MAC over `content`. */
  verify(password: Pkcs12Password, content: Uint8Array): boolean;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function unsupportedMac(algorithm: string): never {
  throw new KeystoreError(
    'ERR_KEYSTORE_FORMAT',
    `the PKCS#12 MAC uses an unsupported algorithm (OID ${algorithm}); supported: HMAC with ` +
      'SHA-1/224/256/384/512 via the PKCS#12 key derivation, and PBMAC1 (RFC 9579); re-export the file',
  );
}

/** PBMAC1 (RFC 9579): PBKDF2 over the UTF-8 password, then HMAC; MacData's salt is unused. */
function pbmac1(params: Asn1 | undefined, expected: Uint8Array): Pkcs12Mac {
  const [kdf, scheme] = sequence(params, 'PKCS#12 PBMAC1 parameters');
  const [kdfOid, kdfParams] = sequence(kdf, 'PKCS#12 PBMAC1 key derivation');
  const kdfName = oid(kdfOid, 'PKCS#12 PBMAC1 key derivation');
  if (kdfName !== PBKDF2) unsupportedMac(kdfName);
  const derivation = pbkdf2Params(kdfParams, 'MAC');
  const schemeName = oid(sequence(scheme, 'PKCS#12 PBMAC1 scheme')[0], 'PKCS#12 PBMAC1 scheme');
  const digest = HMAC_DIGESTS[schemeName];
  if (!digest) unsupportedMac(schemeName);
  // RFC 9579 §5 and Appendix A: a PBMAC1 whose PBKDF2 parameters lack keyLength is refused,
  // as a verifier that guessed a length would accept files other readers reject.
  const keyLength = derivation.keyLength;
  if (keyLength === undefined)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'the PKCS#12 PBMAC1 parameters omit the PBKDF2 key length, which RFC 9579 requires; ' +
        're-export the file with a current OpenSSL (3.4+) or keytool',
    );
  if (keyLength < 1 || keyLength > 64)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `the PKCS#12 PBMAC1 key length is ${keyLength} bytes, outside 1..64 (HMAC keys are at most one block); re-export the file`,
    );
  return {
    name: `PBMAC1 HMAC-${digest.toUpperCase()}`,
    legacy: digest === 'sha1',
    verify(password, content) {
      const key = derivePbkdf2(
        password.utf8,
        derivation.salt,
        derivation.iterations,
        keyLength,
        derivation.digest,
        'the PBMAC1 MAC',
      );
      return equal(createHmac(digest, key).update(content).digest(), expected);
    },
  };
}

/**
 * Reads a MacData (RFC 7292 §4: `SEQUENCE { DigestInfo, macSalt, iterations DEFAULT 1 }`).
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for an unsupported MAC algorithm.
 * @throws Asn1Error for a malformed MacData.
 * @see https://www.rfc-editor.org/rfc/rfc7292#section-4
 * @see https://www.rfc-editor.org/rfc/rfc9579#section-3
 */
export function readMac(macData: Asn1): Pkcs12Mac {
  const [digestInfo, saltEl, countEl] = sequence(macData, 'PKCS#12 MacData');
  const [algorithm, digestEl] = sequence(digestInfo, 'PKCS#12 MAC DigestInfo');
  const [algOid, params] = sequence(algorithm, 'PKCS#12 MAC algorithm');
  const name = oid(algOid, 'PKCS#12 MAC algorithm');
  const expected = octets(digestEl, 'PKCS#12 MAC value');
  if (name === PBMAC1) return pbmac1(params, expected);
  const digest = MAC_DIGESTS[name];
  if (!digest) unsupportedMac(name);
  const salt = octets(saltEl, 'PKCS#12 MAC salt');
  const iterations = countEl ? iterationCount(countEl, 'PKCS#12 MAC iteration count') : 1;
  return {
    name: `HMAC-${digest.toUpperCase()} MAC`,
    legacy: digest === 'sha1' || digest === 'md5',
    verify(password, content) {
      const key = derivePkcs12(digest, password.bmp, salt, KDF_MAC, iterations, digestLength(digest));
      return equal(createHmac(digest, key).update(content).digest(), expected);
    },
  };
}
