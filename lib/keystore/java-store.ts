/**
 * The layout JKS and JCEKS share: a magic number, a version, and entries written with
 * Java's `DataOutput`, closed by a SHA-1 integrity digest keyed with the store password.
 *
 * ```
 * magic u32 (FEEDFEED JKS, CECECECE JCEKS) | version u32 (1, 2) | count u32
 * entry: tag u32 | alias UTF | date u64
 *   1 private key:  length u32, EncryptedPrivateKeyInfo | chain count u32 | certificates
 *   2 trusted cert: certificate
 *   3 secret key (JCEKS): a serialized javax.crypto.SealedObject
 * certificate: type UTF (version 2 only, "X.509") | length u32 | DER
 * digest: SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte before it)
 * ```
 *
 * @see https://github.com/openjdk/jdk17u/blob/master/src/java.base/share/classes/sun/security/provider/JavaKeyStore.java
 * @see https://github.com/openjdk/jdk17u/blob/master/src/java.base/share/classes/com/sun/crypto/provider/JceKeyStore.java
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { rethrowPending } from './work-budget.ts';
import type { RawEntry, RawStore } from './types.ts';
import { JavaDataError, JavaDataReader } from './java-data.ts';
import { Asn1Error } from './asn1.ts';
import { parseEncryptedPrivateKeyInfo } from './java-der.ts';
import type { EncryptedPrivateKeyInfo } from './java-der.ts';
import { decryptJavaKey, javaPasswordBytes, recoverPkcs8 } from './java-key-protector.ts';
import { skipSerializedObject } from './java-serial.ts';
import { printable } from './text.ts';

const JKS_MAGIC = 0xfeedfeed;
const JCEKS_MAGIC = 0xcececece;
const PRIVATE_KEY = 1;
const TRUSTED_CERT = 2;
const SECRET_KEY = 3;
const DIGEST_LEN = 20;
const INTEGRITY_SALT = Buffer.from('Mighty Aphrodite', 'utf8');

/** Which store the caller asked for. */
export type JavaStoreType = 'jks' | 'jceks';

const LABEL = { jks: 'JKS', jceks: 'JCEKS' } as const;

interface KeyEntry {
  /** The alias as messages show it (see `printable`). */
  readonly alias: string;
  readonly info: EncryptedPrivateKeyInfo;
}

function formatError(message: string): KeystoreError {
  return new KeystoreError('ERR_KEYSTORE_FORMAT', message);
}

function readMagic(bytes: Uint8Array, wanted: JavaStoreType): JavaStoreType {
  const magic = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : -1;
  // The JDK's JCEKS reads JKS files too; its JKS does not read JCEKS.
  if (magic === JKS_MAGIC) return 'jks';
  if (magic === JCEKS_MAGIC && wanted === 'jceks') return 'jceks';
  if (magic === JCEKS_MAGIC) {
    throw formatError('this is a JCEKS keystore, not JKS; set certStoreType to jceks (or auto)');
  }
  throw formatError(
    `not a ${LABEL[wanted]} keystore (it does not start with the ${LABEL[wanted]} magic number); ` +
      'check certStoreType and that the secret holds the keystore file itself',
  );
}

function readCertificate(r: JavaDataReader, version: number, what: string): Uint8Array {
  if (version === 2) {
    const type = r.utf(`the type of ${what}`);
    if (type !== 'X.509') {
      throw new KeystoreError(
        'ERR_UNSUPPORTED_KEY',
        `${what} has certificate type "${type}"; only X.509 certificates are supported`,
      );
    }
  }
  const len = r.u32(`the length of ${what}`);
  return Uint8Array.from(r.bytesOf(len, what));
}

function readKeyInfo(r: JavaDataReader, alias: string): EncryptedPrivateKeyInfo {
  const what = `the private key of alias "${alias}"`;
  const der = Uint8Array.from(r.bytesOf(r.u32(`the length of ${what}`), what));
  try {
    return parseEncryptedPrivateKeyInfo(der);
  } catch (err) {
    if (err instanceof Asn1Error) throw new JavaDataError(`${what} is malformed: ${err.message}`);
    throw err;
  }
}

/**
 * Checks the trailing digest. On a mismatch, a private key that opens with the same
 * password proves the password right, so the file itself was altered.
 */
function checkIntegrity(bytes: Uint8Array, end: number, password: string, keys: readonly KeyEntry[]): void {
  const pw = javaPasswordBytes(password);
  const digest = createHash('sha1').update(pw).update(INTEGRITY_SALT).update(bytes.subarray(0, end)).digest();
  pw.fill(0);
  if (timingSafeEqual(digest, bytes.subarray(end, end + DIGEST_LEN))) return;
  const passwordOpensAKey = keys.some(({ alias, info }) => {
    try {
      const der = recoverPkcs8(alias, info, password);
      der?.fill(0);
      return der !== undefined;
    } catch (error) {
      rethrowPending(error);
      return false;
    }
  });
  if (passwordOpensAKey) {
    throw new KeystoreError(
      'ERR_KEYSTORE_INTEGRITY',
      'keystore integrity check failed although the password is right: the file was altered or damaged; ' +
        'restore it from a good copy',
    );
  }
  throw new KeystoreError(
    'ERR_KEYSTORE_PASSWORD',
    'wrong keystore password (or the file was altered); check certPassword',
  );
}

/**
 * Parses a JKS or JCEKS store and, when a password is given, verifies its integrity digest.
 * Private keys stay encrypted until `decryptKey` is called on their entry.
 *
 * @param wanted - the store type asked for; `jceks` also accepts JKS files, as the JDK does.
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` (not this format, truncated, malformed),
 *   `ERR_KEYSTORE_PASSWORD` (digest mismatch and no key opens with the password),
 *   `ERR_KEYSTORE_INTEGRITY` (digest mismatch although a key opens with the password),
 *   `ERR_UNSUPPORTED_KEY` (a certificate type other than X.509).
 */
export function parseJavaStore(
  bytes: Uint8Array,
  password: string | undefined,
  wanted: JavaStoreType,
): RawStore {
  const format = readMagic(bytes, wanted);
  const label = LABEL[format];
  const r = new JavaDataReader(bytes, 4);
  const entries: RawEntry[] = [];
  const keys: KeyEntry[] = [];
  let where = 'the header';
  try {
    const version = r.u32('the version');
    if (version !== 1 && version !== 2) throw formatError(`unsupported ${label} keystore version ${version}`);
    const count = r.u32('the entry count');
    for (let n = 1; n <= count; n++) {
      where = `entry ${n} of ${count}`;
      const tag = r.u32('the entry type');
      const alias = r.utf('the alias');
      const shown = printable(alias);
      r.u64('the entry date');
      if (tag === PRIVATE_KEY) {
        const info = readKeyInfo(r, shown);
        const chainLength = r.u32('the certificate chain length');
        const certificates: Uint8Array[] = [];
        for (let i = 1; i <= chainLength; i++) {
          certificates.push(readCertificate(r, version, `certificate ${i} of alias "${shown}"`));
        }
        keys.push({ alias: shown, info });
        const decryptKey = (keyPassword: string | undefined) => decryptJavaKey(shown, info, keyPassword);
        entries.push({ alias, kind: 'private-key', certificates, decryptKey });
      } else if (tag === TRUSTED_CERT) {
        const certificate = readCertificate(r, version, `the certificate of alias "${shown}"`);
        entries.push({ alias, kind: 'trusted-cert', certificates: [certificate] });
      } else if (tag === SECRET_KEY && format === 'jceks') {
        skipSerializedObject(r);
        entries.push({ alias, kind: 'secret-key', certificates: [] });
      } else {
        throw formatError(`${label} keystore ${where} has unknown entry type ${tag}; the file is damaged`);
      }
    }
    where = 'the end';
    r.bytesOf(DIGEST_LEN, 'the integrity digest');
  } catch (err) {
    if (err instanceof JavaDataError) {
      throw formatError(
        `${label} keystore is damaged or truncated (${err.message}, at ${where}); restore it from a good copy`,
      );
    }
    throw err;
  }

  const warnings: string[] = [];
  const unique = lastPerAlias(entries, label, warnings);
  const end = r.offset - DIGEST_LEN;
  if (password === undefined) {
    warnings.push(`${label} keystore integrity not checked: no store password was given`);
  } else {
    checkIntegrity(bytes, end, password, keys);
  }
  return { format, entries: unique, warnings };
}

/**
 * One entry per alias, the last one written winning: the JDK loads entries into a table
 * keyed by the lower-cased alias, so a later entry replaces an earlier one (keytool lists
 * and opens the last). Each replaced alias is named in a warning.
 */
function lastPerAlias(entries: readonly RawEntry[], label: string, warnings: string[]): RawEntry[] {
  const byAlias = new Map<string, RawEntry>();
  const repeated = new Set<string>();
  for (const entry of entries) {
    const key = entry.alias.toLowerCase();
    if (byAlias.has(key)) repeated.add(printable(entry.alias));
    byAlias.delete(key);
    byAlias.set(key, entry);
  }
  for (const alias of repeated)
    warnings.push(
      `the ${label} keystore holds several entries under alias '${alias}'; the last one is used, as keytool does; ` +
        'delete the others with keytool -delete',
    );
  return [...byAlias.values()];
}
