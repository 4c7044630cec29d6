/**
 * Recovers the PKCS#8 private key of a JKS or JCEKS private-key entry. Two protections
 * exist, named by the OID of the entry's `EncryptedPrivateKeyInfo`:
 *
 * - Sun's JKS key protector (1.3.6.1.4.1.42.2.17.1.1): a SHA-1 keystream over the password
 *   (UTF-16BE chars) and a 20-byte salt, XORed with the key, followed by
 *   SHA-1(password || key) as a check digest.
 * - PBEWithMD5AndTripleDES (1.3.6.1.4.1.42.2.19.1), used by JCEKS: each half of the 8-byte
 *   salt is hashed with the ASCII password through `iterations` rounds of MD5, giving a
 *   DES-EDE3 key and IV; the key is then CBC-encrypted with PKCS#5 padding.
 *
 * Both stores may hold either protection (JCEKS reads JKS entries), so recovery dispatches
 * on the OID rather than the store type.
 */
import { createDecipheriv, createHash, createPrivateKey, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { Asn1Error } from './asn1.ts';
import { looksLikePkcs8, parsePbeParameter } from './java-der.ts';
import type { EncryptedPrivateKeyInfo } from './java-der.ts';
import { checkWork, derive } from './work-budget.ts';

/** Sun's proprietary JKS key protector. */
const JKS_KEY_PROTECTOR_OID = '1.3.6.1.4.1.42.2.17.1.1';
/** Sun's PBEWithMD5AndTripleDES, used by JCEKS. */
const PBE_MD5_TRIPLE_DES_OID = '1.3.6.1.4.1.42.2.19.1';

/** The JDK refuses JCEKS iteration counts above this (`KeyProtector.MAX_ITERATION_COUNT`). */
const MAX_ITERATIONS = 5_000_000;
const SHA1_LEN = 20;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** A Java `char[]` password as the JDK hashes it: each UTF-16 code unit, big-endian. */
export function javaPasswordBytes(password: string): Buffer {
  return Buffer.from(password, 'utf16le').swap16();
}

function formatError(alias: string, what: string): KeystoreError {
  return new KeystoreError(
    'ERR_KEYSTORE_FORMAT',
    `the private key of alias "${alias}" is damaged (${what}); restore the keystore from a good copy`,
  );
}

function recoverJks(alias: string, data: Uint8Array, password: string): Uint8Array | undefined {
  if (data.length < 2 * SHA1_LEN + 1) throw formatError(alias, 'the protected key is too short');
  const end = data.length - SHA1_LEN;
  const pw = javaPasswordBytes(password);
  const plain = new Uint8Array(end - SHA1_LEN);
  let digest: Uint8Array = data.subarray(0, SHA1_LEN);
  for (let off = 0; off < plain.length; off += SHA1_LEN) {
    digest = createHash('sha1').update(pw).update(digest).digest();
    const n = Math.min(SHA1_LEN, plain.length - off);
    for (let i = 0; i < n; i++) plain[off + i] = data[SHA1_LEN + off + i]! ^ digest[i]!;
  }
  const check = createHash('sha1').update(pw).update(plain).digest();
  pw.fill(0);
  if (timingSafeEqual(check, data.subarray(end))) return plain;
  plain.fill(0);
  return undefined;
}

function recoverPbeMd5TripleDes(
  alias: string,
  info: EncryptedPrivateKeyInfo,
  password: string,
): Uint8Array | undefined {
  let salt: Uint8Array, iterations: number;
  try {
    ({ salt, iterations } = parsePbeParameter(info.parameters));
  } catch (err) {
    if (err instanceof Asn1Error) throw formatError(alias, err.message);
    throw err;
  }
  if (salt.length !== 8) throw formatError(alias, 'the salt is not 8 bytes');
  if (iterations < 1 || iterations > MAX_ITERATIONS)
    throw formatError(alias, 'the iteration count is out of range');
  const data = info.encryptedData;
  if (data.length === 0 || data.length % 8 !== 0)
    throw formatError(alias, 'the ciphertext is not whole blocks');
  // The JDK's PBEKey accepts printable ASCII only, so no other password can have been used.
  if (!PRINTABLE_ASCII.test(password)) return undefined;

  const halves = [Uint8Array.from(salt.subarray(0, 4)), Uint8Array.from(salt.subarray(4, 8))] as const;
  if (halves[0].every((b, i) => b === halves[1][i])) halves[0].reverse();
  const pw = Buffer.from(password, 'latin1');
  const what = `the JCEKS key of alias "${alias}"`;
  // Both halves are derived: refuse before the first when the two do not fit.
  checkWork(2 * iterations, what);
  const k0 = derive({ kind: 'md5-chain', first: halves[0], suffix: pw, iterations }, what);
  const k1 = derive({ kind: 'md5-chain', first: halves[1], suffix: pw, iterations }, what);
  pw.fill(0);
  const key = Buffer.concat([k0, k1.subarray(0, 8)]);
  const decipher = createDecipheriv('des-ede3-cbc', key, k1.subarray(8, 16)).setAutoPadding(false);
  const plain = Buffer.concat([decipher.update(data), decipher.final()]);
  key.fill(0);
  k0.fill(0);
  k1.fill(0);

  const pad = plain[plain.length - 1]!;
  let ok = pad >= 1 && pad <= 8;
  for (let i = plain.length - pad; ok && i < plain.length; i++) ok = plain[i] === pad;
  const pkcs8 = plain.subarray(0, plain.length - pad);
  if (ok && looksLikePkcs8(pkcs8)) return pkcs8;
  plain.fill(0);
  return undefined;
}

/**
 * Decrypts the entry's key to PKCS#8 DER, or returns `undefined` when `password` is not the
 * one it was protected with.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when the protection parameters are malformed,
 *   `ERR_UNSUPPORTED_KEY` for a protection algorithm other than the two above.
 */
export function recoverPkcs8(
  alias: string,
  info: EncryptedPrivateKeyInfo,
  password: string,
): Uint8Array | undefined {
  switch (info.algorithm) {
    case JKS_KEY_PROTECTOR_OID:
      return recoverJks(alias, info.encryptedData, password);
    case PBE_MD5_TRIPLE_DES_OID:
      return recoverPbeMd5TripleDes(alias, info, password);
    default:
      throw new KeystoreError(
        'ERR_UNSUPPORTED_KEY',
        `the private key of alias "${alias}" is protected with algorithm ${info.algorithm}, which is not supported ` +
          '(supported: the JKS key protector and PBEWithMD5AndTripleDES); re-save the keystore with keytool 17',
      );
  }
}

/**
 * Decrypts a private-key entry and loads it as a Node `KeyObject`.
 *
 * @throws KeystoreError `ERR_KEY_PASSWORD` when the password is missing or wrong,
 *   `ERR_UNSUPPORTED_KEY` when the decrypted key is not one Node can load,
 *   `ERR_KEYSTORE_FORMAT` when the protected key is malformed.
 */
export function decryptJavaKey(
  alias: string,
  info: EncryptedPrivateKeyInfo,
  password: string | undefined,
): KeyObject {
  if (password === undefined) {
    throw new KeystoreError(
      'ERR_KEY_PASSWORD',
      `the private key of alias "${alias}" needs a password; set certPassword (and keyPassword when it differs)`,
    );
  }
  const der = recoverPkcs8(alias, info, password);
  if (der === undefined) {
    const asciiOnly =
      info.algorithm === PBE_MD5_TRIPLE_DES_OID && !PRINTABLE_ASCII.test(password)
        ? ' (JCEKS key passwords are printable ASCII only)'
        : '';
    throw new KeystoreError(
      'ERR_KEY_PASSWORD',
      `wrong key password for alias "${alias}"${asciiOnly}; set keyPassword when it differs from the store password`,
    );
  }
  try {
    return createPrivateKey({
      key: Buffer.from(der.buffer, der.byteOffset, der.length),
      format: 'der',
      type: 'pkcs8',
    });
  } catch (err) {
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `the private key of alias "${alias}" is of a kind that cannot be loaded ` +
        '(supported: RSA, EC P-256/P-384/P-521, Ed25519)',
      { cause: err },
    );
  } finally {
    der.fill(0);
  }
}
