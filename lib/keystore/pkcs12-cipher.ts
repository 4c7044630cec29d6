import { createDecipheriv } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { DecryptFailure, rc2 } from './legacy-ciphers.ts';
import { derivePbkdf2, derivePkcs12 } from './work-budget.ts';
import { type Asn1, Asn1Error, OCTET_STRING, octets, oid, sequence, smallInt } from './asn1.ts';
import { KDF_IV, KDF_KEY } from './pkcs12-kdf.ts';

/** A password in the two encodings PKCS#12 uses. */
export interface Pkcs12Password {
  /** UTF-8 bytes, for PBKDF2 (PBES2, PBMAC1), as OpenSSL and Java pass them. */
  readonly utf8: Buffer;
  /** BMPString with its two-byte terminator (empty for an absent password), for the PKCS#12 KDF. */
  readonly bmp: Buffer;
}

/**
 * The encodings to try for a password, most likely first: for no password both an empty
 * BMPString and a bare terminator (OpenSSL tries both); for a non-ASCII password also each
 * UTF-8 byte widened to 16 bits, as OpenSSL wrote files before 1.1.0.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7292#appendix-B.1
 */
export function passwordForms(password: string | undefined): Pkcs12Password[] {
  const utf8 = Buffer.from(password ?? '', 'utf8');
  if (!password) {
    const terminated = { utf8, bmp: Buffer.alloc(2) };
    const empty = { utf8, bmp: Buffer.alloc(0) };
    return password === undefined ? [empty, terminated] : [terminated, empty];
  }
  const bmp = Buffer.from(`${password}\0`, 'utf16le').swap16();
  const forms = [{ utf8, bmp }];
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(password)) {
    const widened = Buffer.alloc(utf8.length * 2 + 2);
    utf8.forEach((byte, i) => (widened[i * 2 + 1] = byte));
    forms.push({ utf8, bmp: widened });
  }
  return forms;
}

export { DecryptFailure, rc2, unpad } from './legacy-ciphers.ts';

/** A password-based decryption scheme read from an AlgorithmIdentifier. */
export interface Pkcs12Decryptor {
  /** Readable name, for warnings. */
  readonly name: string;
  /** True for schemes to re-export away from (PKCS#12 PBE with RC2, RC4, 3DES; PBES2 with DES). */
  readonly legacy: boolean;
  /** @throws DecryptFailure when the password is wrong. */
  decrypt(password: Pkcs12Password, data: Uint8Array): Buffer;
}

/** Java refuses more; a larger count in a file is damage or a denial of service. */
export const MAX_ITERATIONS = 5_000_000;

const PBES2 = '1.2.840.113549.1.5.13';
const PBKDF2 = '1.2.840.113549.1.5.12';
const HMAC_SHA1 = '1.2.840.113549.2.7';

/** PRF OIDs of PBKDF2 (RFC 8018 B.1) and the digest each uses. */
export const HMAC_DIGESTS: Readonly<Record<string, string>> = {
  [HMAC_SHA1]: 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
  '1.2.840.113549.2.12': 'sha512-224',
  '1.2.840.113549.2.13': 'sha512-256',
};

/** PBES2 encryption schemes: Node cipher name, key length. */
const PBES2_CIPHERS: Readonly<
  Record<string, { cipher: string; keyLength: number; ivLength: number; name: string }>
> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLength: 16, ivLength: 16, name: 'AES-128-CBC' },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLength: 24, ivLength: 16, name: 'AES-192-CBC' },
  '2.16.840.1.101.3.4.1.42': { cipher: 'aes-256-cbc', keyLength: 32, ivLength: 16, name: 'AES-256-CBC' },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLength: 24, ivLength: 8, name: 'DES-EDE3-CBC' },
};

/** PKCS#12 PBE schemes (RFC 7292 Appendix C), all with SHA-1. */
const PKCS12_PBE: Readonly<Record<string, { cipher: string; keyLength: number; name: string }>> = {
  '1.2.840.113549.1.12.1.1': { cipher: 'rc4', keyLength: 16, name: 'pbeWithSHAAnd128BitRC4' },
  '1.2.840.113549.1.12.1.2': { cipher: 'rc4', keyLength: 5, name: 'pbeWithSHAAnd40BitRC4' },
  '1.2.840.113549.1.12.1.3': {
    cipher: 'des-ede3-cbc',
    keyLength: 24,
    name: 'pbeWithSHAAnd3-KeyTripleDES-CBC',
  },
  '1.2.840.113549.1.12.1.4': {
    cipher: 'des-ede-cbc',
    keyLength: 16,
    name: 'pbeWithSHAAnd2-KeyTripleDES-CBC',
  },
  '1.2.840.113549.1.12.1.5': { cipher: 'rc2', keyLength: 16, name: 'pbeWithSHAAnd128BitRC2-CBC' },
  '1.2.840.113549.1.12.1.6': { cipher: 'rc2', keyLength: 5, name: 'pbeWithSHAAnd40BitRC2-CBC' },
};

const SUPPORTED =
  'PBES2 (PBKDF2 with HMAC-SHA-1/224/256/384/512; AES-128/192/256-CBC or DES-EDE3-CBC) and ' +
  'PKCS#12 PBE with SHA-1 (3DES, 2DES, RC2-40, RC2-128, RC4-40, RC4-128)';

/** Iteration count, bounded. */
export function iterationCount(el: Asn1 | undefined, what: string): number {
  const count = smallInt(el, what);
  if (count < 1 || count > MAX_ITERATIONS)
    throw new Asn1Error(`${what} is ${count}, outside 1..${MAX_ITERATIONS}`);
  return count;
}

function cbc(cipher: string, key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const decipher = createDecipheriv(cipher, key, iv);
  try {
    return Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    throw new DecryptFailure('bad padding');
  }
}

/** RC4 (stream cipher, absent from OpenSSL 3's default provider); a few legacy files use it. */
function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const s = new Uint8Array(256);
  for (let i = 0; i < 256; i++) s[i] = i;
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 0xff;
    const t = s[i]!;
    s[i] = s[j]!;
    s[j] = t;
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]!) & 0xff;
    const t = s[i]!;
    s[i] = s[j]!;
    s[j] = t;
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 0xff]!;
  }
  return out;
}

function unsupported(what: string, algorithm: string): never {
  throw new KeystoreError(
    'ERR_KEYSTORE_FORMAT',
    `the PKCS#12 ${what} is encrypted with an unsupported algorithm (OID ${algorithm}); ` +
      `supported: ${SUPPORTED}; re-export the file with AES-256`,
  );
}

/** PBKDF2 parameters (RFC 8018 A.2): salt, count, key length, PRF digest. */
export function pbkdf2Params(
  params: Asn1 | undefined,
  what: string,
): { salt: Uint8Array; iterations: number; keyLength: number | undefined; digest: string } {
  const [salt, count, ...rest] = sequence(params, `${what} PBKDF2 parameters`);
  let keyLength: number | undefined;
  let prf: Asn1 | undefined;
  for (const el of rest) {
    if (el.tag === 0x02 && keyLength === undefined && prf === undefined)
      keyLength = smallInt(el, `${what} key length`);
    else prf = el;
  }
  const prfOid = prf ? oid(sequence(prf, `${what} PBKDF2 PRF`)[0], `${what} PBKDF2 PRF`) : HMAC_SHA1;
  const digest = HMAC_DIGESTS[prfOid];
  if (!digest) unsupported(what, prfOid);
  return {
    salt: octets(salt, `${what} PBKDF2 salt`, [OCTET_STRING]),
    iterations: iterationCount(count, `${what} PBKDF2 iteration count`),
    keyLength,
    digest,
  };
}

function pbes2(params: Asn1 | undefined, what: string): Pkcs12Decryptor {
  const [kdf, scheme] = sequence(params, `${what} PBES2 parameters`);
  const [kdfOid, kdfParams] = sequence(kdf, `${what} key derivation`);
  const kdfName = oid(kdfOid, `${what} key derivation`);
  if (kdfName !== PBKDF2) unsupported(what, kdfName);
  const derivation = pbkdf2Params(kdfParams, what);
  const [schemeOid, ivEl] = sequence(scheme, `${what} encryption scheme`);
  const schemeName = oid(schemeOid, `${what} encryption scheme`);
  const cipher = PBES2_CIPHERS[schemeName];
  if (!cipher) unsupported(what, schemeName);
  const iv = octets(ivEl, `${what} IV`);
  if (iv.length !== cipher.ivLength)
    throw new Asn1Error(`${what} IV has ${iv.length} bytes, not ${cipher.ivLength}`);
  if (derivation.keyLength !== undefined && derivation.keyLength !== cipher.keyLength)
    throw new Asn1Error(`${what} key length ${derivation.keyLength} does not suit ${cipher.name}`);
  return {
    name: `PBES2 ${cipher.name}`,
    legacy: !cipher.cipher.startsWith('aes'),
    decrypt(password, data) {
      const key = derivePbkdf2(
        password.utf8,
        derivation.salt,
        derivation.iterations,
        cipher.keyLength,
        derivation.digest,
        `${what} PBKDF2`,
      );
      return cbc(cipher.cipher, key, iv, data);
    },
  };
}

function pkcs12Pbe(
  scheme: { cipher: string; keyLength: number; name: string },
  params: Asn1 | undefined,
  what: string,
) {
  const [saltEl, count] = sequence(params, `${what} PBE parameters`);
  const salt = octets(saltEl, `${what} PBE salt`);
  const iterations = iterationCount(count, `${what} PBE iteration count`);
  return {
    name: scheme.name,
    legacy: true,
    decrypt(password: Pkcs12Password, data: Uint8Array): Buffer {
      const key = derivePkcs12('sha1', password.bmp, salt, KDF_KEY, iterations, scheme.keyLength);
      if (scheme.cipher === 'rc4') return rc4(key, data);
      const iv = derivePkcs12('sha1', password.bmp, salt, KDF_IV, iterations, 8);
      if (scheme.cipher === 'rc2') return rc2(key, iv, data);
      if (data.length % 8 !== 0) throw new DecryptFailure('bad length');
      return cbc(scheme.cipher, key, iv, data);
    },
  } satisfies Pkcs12Decryptor;
}

/**
 * Reads an encryption AlgorithmIdentifier (PBES2 or PKCS#12 PBE).
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for an unsupported algorithm.
 * @throws Asn1Error for malformed parameters.
 * @see https://www.rfc-editor.org/rfc/rfc8018#section-6.2
 * @see https://www.rfc-editor.org/rfc/rfc7292#appendix-C
 */
export function decryptorFor(algorithm: Asn1 | undefined, what: string): Pkcs12Decryptor {
  const [algOid, params] = sequence(algorithm, `${what} encryption algorithm`);
  const name = oid(algOid, `${what} encryption algorithm`);
  if (name === PBES2) return pbes2(params, what);
  const scheme = PKCS12_PBE[name];
  if (scheme) return pkcs12Pbe(scheme, params, what);
  return unsupported(what, name);
}
