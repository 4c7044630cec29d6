/**
 * Encrypted PKCS#8 keys under ciphers OpenSSL 3 keeps in its legacy provider, which Node
 * does not load: PBES1 (PKCS#5 v1.5: MD5 or SHA-1 with DES or RC2), PBES2 with DES or RC2,
 * and PKCS#12 PBE with RC2 or RC4. The scheme is read before any decryption, so a cipher
 * the broker lacks is named as such and never reported as a wrong password.
 */
import { KeystoreError } from '../errors.ts';
import { derive, derivePbkdf2 } from './work-budget.ts';
import { type Asn1, Asn1Error, OCTET_STRING, octets, oid, readElement, sequence, smallInt } from './asn1.ts';
import { decryptorFor, iterationCount, passwordForms, pbkdf2Params } from './pkcs12-cipher.ts';
import { desCbc, rc2 } from './legacy-ciphers.ts';

/** PBES1 schemes (RFC 8018 §6.1, Appendix A.3). */
const PBES1: Readonly<Record<string, { digest: 'md5' | 'sha1'; cipher: 'des' | 'rc2'; name: string }>> = {
  '1.2.840.113549.1.5.3': { digest: 'md5', cipher: 'des', name: 'pbeWithMD5AndDES-CBC' },
  '1.2.840.113549.1.5.6': { digest: 'md5', cipher: 'rc2', name: 'pbeWithMD5AndRC2-CBC' },
  '1.2.840.113549.1.5.10': { digest: 'sha1', cipher: 'des', name: 'pbeWithSHA1AndDES-CBC' },
  '1.2.840.113549.1.5.11': { digest: 'sha1', cipher: 'rc2', name: 'pbeWithSHA1AndRC2-CBC' },
};
const PBES1_MD2 = new Set(['1.2.840.113549.1.5.1', '1.2.840.113549.1.5.4']);
const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const DES_CBC = '1.3.14.3.2.7';
const RC2_CBC = '1.2.840.113549.3.2';
/** PBES2 ciphers Node opens itself (OpenSSL 3 default provider). */
const NATIVE_PBES2 = new Set([
  '2.16.840.1.101.3.4.1.2',
  '2.16.840.1.101.3.4.1.22',
  '2.16.840.1.101.3.4.1.42',
  '1.2.840.113549.3.7',
]);
/** PKCS#12 PBE with 3DES, which Node opens itself. */
const NATIVE_PKCS12 = new Set(['1.2.840.113549.1.12.1.3', '1.2.840.113549.1.12.1.4']);
const PKCS12_PBE_PREFIX = '1.2.840.113549.1.12.1.';
/** RFC 8018 B.2.3: rc2ParameterVersion to effective key bits. */
const RC2_VERSIONS: Readonly<Record<number, number>> = { 160: 40, 120: 64, 58: 128 };

/** A key the broker decrypts itself, or `native` when Node's own decoder handles it. */
export type Pkcs8Scheme =
  | { readonly kind: 'native' }
  | {
      readonly kind: 'legacy';
      readonly name: string;
      /** Iterations one decryption derives, for the work budget. */
      readonly iterations: number;
      /** @throws DecryptFailure when the password is wrong. */
      decrypt(password: string, data: Uint8Array): Buffer;
    };

function blockCipher(cipher: 'des' | 'rc2', key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  return cipher === 'des' ? desCbc(key, iv, data) : rc2(key, iv, data);
}

function unsupported(name: string): never {
  throw new KeystoreError(
    'ERR_UNSUPPORTED_KEY',
    `the PEM key is encrypted with ${name}, which the broker does not support; re-encrypt it with ` +
      '`openssl pkcs8 -topk8 -v2 aes-256-cbc`',
  );
}

/** PBKDF1 (RFC 8018 §5.1): `H^c(P || S)`, the first 8 bytes the key, the next 8 the IV. */
function pbes1(scheme: (typeof PBES1)[string], params: Asn1 | undefined): Pkcs8Scheme {
  const [saltEl, countEl] = sequence(params, 'PBES1 parameters');
  const salt = octets(saltEl, 'PBES1 salt', [OCTET_STRING]);
  if (salt.length !== 8) throw new Asn1Error(`PBES1 salt has ${salt.length} bytes, not 8`);
  const iterations = iterationCount(countEl, 'PBES1 iteration count');
  return {
    kind: 'legacy',
    name: scheme.name,
    iterations,
    decrypt(password, data) {
      const input = Buffer.concat([Buffer.from(password, 'utf8'), salt]);
      const dk = derive({ kind: 'hash-chain', digest: scheme.digest, input, iterations }, scheme.name);
      return blockCipher(scheme.cipher, dk.subarray(0, 8), dk.subarray(8, 16), data);
    },
  };
}

/** PBES2 (RFC 8018 §6.2) with DES-CBC or RC2-CBC; other ciphers Node opens or are refused. */
function pbes2(params: Asn1 | undefined): Pkcs8Scheme {
  const [kdf, scheme] = sequence(params, 'PBES2 parameters');
  const [kdfOid, kdfParams] = sequence(kdf, 'PBES2 key derivation');
  const kdfName = oid(kdfOid, 'PBES2 key derivation');
  const [schemeOid, schemeParams] = sequence(scheme, 'PBES2 encryption scheme');
  const cipherName = oid(schemeOid, 'PBES2 encryption scheme');
  if (kdfName !== PBKDF2)
    return kdfName === '1.3.6.1.4.1.11591.4.11'
      ? { kind: 'native' }
      : unsupported(`PBES2 key derivation OID ${kdfName}`);
  if (NATIVE_PBES2.has(cipherName)) return { kind: 'native' };
  const derivation = pbkdf2Params(kdfParams, 'PEM key');
  let cipher: 'des' | 'rc2';
  let keyLength: number;
  let iv: Uint8Array;
  if (cipherName === DES_CBC) {
    cipher = 'des';
    keyLength = 8;
    iv = octets(schemeParams, 'DES-CBC IV', [OCTET_STRING]);
  } else if (cipherName === RC2_CBC) {
    cipher = 'rc2';
    const parts = sequence(schemeParams, 'RC2-CBC parameters');
    const version = parts.length > 1 ? smallInt(parts[0], 'RC2 parameter version') : 32;
    iv = octets(parts[parts.length - 1], 'RC2-CBC IV', [OCTET_STRING]);
    const bits = RC2_VERSIONS[version];
    keyLength = derivation.keyLength ?? (bits ?? 32) / 8;
    if (bits !== undefined && bits !== keyLength * 8)
      unsupported(`RC2-CBC with ${bits} effective bits over a ${keyLength * 8}-bit key`);
  } else {
    return unsupported(
      `PBES2 cipher OID ${cipherName}${cipherName === '1.3.6.1.4.1.3029.1.2' ? ' (Blowfish-CBC)' : ''}`,
    );
  }
  if (iv.length !== 8) throw new Asn1Error(`PBES2 IV has ${iv.length} bytes, not 8`);
  return {
    kind: 'legacy',
    name: `PBES2 ${cipher === 'des' ? 'DES-CBC' : 'RC2-CBC'}`,
    iterations: derivation.iterations,
    decrypt(password, data) {
      const key = derivePbkdf2(
        Buffer.from(password, 'utf8'),
        derivation.salt,
        derivation.iterations,
        keyLength,
        derivation.digest,
        'the PEM key PBKDF2',
      );
      return blockCipher(cipher, key, iv, data);
    },
  };
}

/**
 * Reads an EncryptedPrivateKeyInfo's scheme (RFC 5958 §3) before any decryption.
 *
 * @throws KeystoreError `ERR_UNSUPPORTED_KEY` naming a cipher the broker lacks (MD2, Blowfish…).
 * @throws Asn1Error for malformed parameters.
 * @see https://www.rfc-editor.org/rfc/rfc8018#section-6
 */
export function pkcs8Scheme(der: Uint8Array): Pkcs8Scheme {
  const [algorithm] = sequence(readElement(der, 'EncryptedPrivateKeyInfo'), 'EncryptedPrivateKeyInfo');
  const [algOid, params] = sequence(algorithm, 'PEM key encryption algorithm');
  const name = oid(algOid, 'PEM key encryption algorithm');
  const v1 = PBES1[name];
  if (v1) return pbes1(v1, params);
  if (PBES1_MD2.has(name)) unsupported('PBES1 with MD2');
  if (name === PBES2) return pbes2(params);
  if (NATIVE_PKCS12.has(name)) return { kind: 'native' };
  if (name.startsWith(PKCS12_PBE_PREFIX)) {
    const decryptor = decryptorFor(algorithm, 'PEM key');
    const [, count] = sequence(params, 'PBE parameters');
    return {
      kind: 'legacy',
      name: decryptor.name,
      iterations: iterationCount(count, 'PBE iteration count') * 2,
      decrypt: (password, data) => decryptor.decrypt(passwordForms(password)[0]!, data),
    };
  }
  return unsupported(`algorithm OID ${name}`);
}

/** The encrypted bytes of an EncryptedPrivateKeyInfo. */
export function encryptedData(der: Uint8Array): Uint8Array {
  const [, data] = sequence(readElement(der, 'EncryptedPrivateKeyInfo'), 'EncryptedPrivateKeyInfo');
  return octets(data, 'EncryptedPrivateKeyInfo data', [OCTET_STRING]);
}
