/**
 * BouncyCastle BKS keystores (v1 and v2), the default of Android and many BouncyCastle
 * based Java applications. Written with Java's `DataOutput`:
 *
 * ```
 * version u32 (1, 2) | salt length u32 | salt | iteration count u32
 * entry: type u8 (0 ends) | alias UTF | date u64 | chain count u32 | certificates
 *   1 certificate: certificate | 2 key: key | 3 secret: length u32, bytes
 *   4 sealed key: length u32, { salt length u32, salt, iterations u32, 3DES-CBC(key) }
 * certificate: type UTF ("X.509") | length u32 | DER
 * key: type u8 (0 private, 1 public, 2 secret) | format UTF | algorithm UTF | length u32 | bytes
 * MAC: HMAC-SHA1 over the entries, keyed by the PKCS#12 KDF (SHA-1, id 3) of the password;
 *   v1 keys it with 2 bytes (BouncyCastle passed bits where bytes were meant), v2 with 20
 * ```
 *
 * Sealed keys use PBEWithSHAAnd3-KeyTripleDES-CBC (the PKCS#12 KDF with SHA-1). UBER
 * stores (the same header, the entries encrypted as a whole) are refused by name.
 *
 * @see https://github.com/bcgit/bc-java/blob/main/prov/src/main/java/org/bouncycastle/jcajce/provider/keystore/bc/BcKeyStoreSpi.java
 */
import { type KeyObject, createDecipheriv, createHmac, createPrivateKey, timingSafeEqual } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { JavaDataError, JavaDataReader } from './java-data.ts';
import { MAX_ITERATIONS, passwordForms } from './pkcs12-cipher.ts';
import { KDF_IV, KDF_KEY, KDF_MAC } from './pkcs12-kdf.ts';
import { derivePkcs12, prefetchPkcs12 } from './work-budget.ts';
import { printable } from './text.ts';
import type { RawEntry, RawStore } from './types.ts';

const CERTIFICATE = 1;
const KEY = 2;
const SECRET = 3;
const SEALED = 4;
const MAC_LENGTH = 20;
/** Key types of an encoded key. */
const PRIVATE_KEY = 0;
const PUBLIC_KEY = 1;
const SECRET_KEY = 2;
const PASSWORD_MESSAGE = 'wrong keystore password (or the file was altered); check certPassword';
const UBER_MESSAGE =
  'this is a BouncyCastle UBER keystore (or a damaged BKS); UBER is not supported: convert it with ' +
  '`keytool -importkeystore -deststoretype PKCS12` and the BouncyCastle provider';

function formatError(detail: string): KeystoreError {
  return new KeystoreError(
    'ERR_KEYSTORE_FORMAT',
    `BKS keystore is damaged or truncated (${detail}); restore it from a good copy`,
  );
}

function bounded(count: number, what: string): number {
  if (count < 1 || count > MAX_ITERATIONS)
    throw formatError(`${what} is ${count}, outside 1..${MAX_ITERATIONS}`);
  return count;
}

function readCertificate(r: JavaDataReader, what: string): Uint8Array {
  const type = r.utf(`the type of ${what}`);
  if (type !== 'X.509')
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `${what} has certificate type "${type}"; only X.509 certificates are supported`,
    );
  return Uint8Array.from(r.bytesOf(r.u32(`the length of ${what}`), what));
}

interface EncodedKey {
  readonly type: number;
  readonly format: string;
  readonly algorithm: string;
  readonly bytes: Uint8Array;
}

function readKey(r: JavaDataReader, what: string): EncodedKey {
  const type = r.u8(`the key type of ${what}`);
  const format = r.utf(`the key format of ${what}`);
  const algorithm = r.utf(`the key algorithm of ${what}`);
  const bytes = Uint8Array.from(r.bytesOf(r.u32(`the key length of ${what}`), what));
  return { type, format, algorithm, bytes };
}

function privateKeyOf(key: EncodedKey, alias: string): KeyObject {
  if (key.type !== 0 || key.format !== 'PKCS#8')
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `entry '${alias}' holds a ${key.algorithm} key in ${key.format} form, not a PKCS#8 private key`,
    );
  try {
    return createPrivateKey({ key: Buffer.from(key.bytes), format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `the ${key.algorithm} private key of '${alias}' cannot be loaded; use an RSA, EC (P-256, P-384, P-521) or Ed25519 key`,
      { cause },
    );
  }
}

/** A sealed key as stored: its own salt and iteration count, then the 3DES-CBC ciphertext. */
interface Sealed {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly data: Uint8Array;
}

/** Reads a sealed key's header: a damaged one is a format error. */
function parseSealed(bytes: Uint8Array): Sealed {
  const r = new JavaDataReader(bytes);
  const salt = r.bytesOf(r.u32('the sealed key salt length'), 'the sealed key salt');
  const iterations = bounded(r.u32('the sealed key iteration count'), 'the sealed key iteration count');
  return { salt, iterations, data: bytes.subarray(r.offset) };
}

/**
 * A sealed key whose header is read when first used (to unseal or to prefetch it): a damaged
 * entry that the open never unseals, because another alias is asked for, does not fail it.
 */
function readSealed(bytes: Uint8Array): Sealed {
  let parts: Sealed | undefined;
  const read = (): Sealed => (parts ??= parseSealed(bytes));
  return {
    get salt() {
      return read().salt;
    },
    get iterations() {
      return read().iterations;
    },
    get data() {
      return read().data;
    },
  };
}

/** Starts the costly part of {@link unseal} off the event loop, see {@link prefetchPkcs12}. */
function prefetchUnseal(sealed: Sealed, password: string): void {
  const bmp = passwordForms(password)[0]!.bmp;
  prefetchPkcs12('sha1', bmp, sealed.salt, KDF_KEY, sealed.iterations, 24);
}

/** Opens a sealed key (PBEWithSHAAnd3-KeyTripleDES-CBC); `undefined` for a wrong password. */
function unseal(sealed: Sealed, password: string | undefined): EncodedKey | undefined {
  const { salt, iterations, data } = sealed;
  const bmp = passwordForms(password)[0]!.bmp;
  // The IV first: it is cheap enough to derive here while a prefetched key runs off the loop.
  const iv = derivePkcs12('sha1', bmp, salt, KDF_IV, iterations, 8);
  const key = derivePkcs12('sha1', bmp, salt, KDF_KEY, iterations, 24);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('des-ede3-cbc', key, iv);
    plain = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    return undefined;
  }
  try {
    return readKey(new JavaDataReader(plain), 'the sealed key');
  } catch (error) {
    if (error instanceof JavaDataError) return undefined;
    throw error;
  }
}

function sealedEntry(alias: string, certificates: Uint8Array[], sealed: Sealed): RawEntry {
  const shown = printable(alias);
  return {
    alias,
    kind: 'private-key',
    certificates,
    decryptKey(password) {
      const key = unseal(sealed, password);
      if (!key)
        throw new KeystoreError(
          'ERR_KEY_PASSWORD',
          `the key of '${shown}' could not be decrypted: wrong key password (in BKS it is often the store password)`,
        );
      return privateKeyOf(key, shown);
    },
  };
}

/**
 * An entry as parsed. `entry` tells what it is: `undefined` for a public key, which is not
 * listed. `sealed` entries learn that only by unsealing (a key derivation), so they do it
 * when first asked, once per parse.
 */
interface Slot {
  readonly alias: string;
  readonly sealed: Sealed | undefined;
  readonly entry: () => RawEntry | undefined;
}

function known(alias: string, entry: RawEntry | undefined): Slot {
  return { alias, sealed: undefined, entry: () => entry };
}

function sealedSlot(alias: string, chain: Uint8Array[], sealed: Sealed, password: string | undefined): Slot {
  let told: { readonly entry: RawEntry | undefined } | undefined;
  return {
    alias,
    sealed,
    entry: () => (told ??= { entry: sealedEntryOf(alias, chain, sealed, password) }).entry,
  };
}

/** The slots `alias` names case-insensitively, and those that cost nothing to tell. */
function slotsNamed(slots: readonly Slot[], alias: string): Slot[] {
  const wanted = alias.toLowerCase();
  return slots.filter((slot) => !slot.sealed || slot.alias.toLowerCase() === wanted);
}

/** The entries that follow the header, up to the MAC; a damaged one is a format error. */
function readSlots(r: JavaDataReader, password: string | undefined): Slot[] {
  const slots: Slot[] = [];
  for (let type = r.u8('the entry type'); type !== 0; type = r.u8('the entry type')) {
    const alias = r.utf('the alias');
    const shown = printable(alias);
    r.u64('the entry date');
    const chain: Uint8Array[] = [];
    const chainLength = r.u32('the certificate chain length');
    for (let i = 1; i <= chainLength; i++)
      chain.push(readCertificate(r, `certificate ${i} of alias "${shown}"`));
    if (type === CERTIFICATE) {
      const certificate = readCertificate(r, `the certificate of alias "${shown}"`);
      slots.push(known(alias, { alias, kind: 'trusted-cert', certificates: [certificate] }));
    } else if (type === KEY) {
      const key = readKey(r, `alias "${shown}"`);
      slots.push(
        known(
          alias,
          key.type === PUBLIC_KEY
            ? undefined
            : key.type === PRIVATE_KEY
              ? {
                  alias,
                  kind: 'private-key',
                  certificates: chain,
                  decryptKey: () => privateKeyOf(key, shown),
                }
              : { alias, kind: 'secret-key', certificates: [], secretAlgorithm: key.algorithm },
        ),
      );
    } else if (type === SECRET) {
      r.bytesOf(r.u32('the secret length'), 'the secret');
      slots.push(known(alias, { alias, kind: 'secret-key', certificates: [] }));
    } else if (type === SEALED) {
      const sealed = Uint8Array.from(r.bytesOf(r.u32('the sealed key length'), 'the sealed key'));
      slots.push(sealedSlot(alias, chain, readSealed(sealed), password));
    } else {
      throw formatError(`unknown entry type ${type} at byte ${r.offset - 1}`);
    }
  }
  return slots;
}

/** Checks the MAC that ends the store, keyed from the store password. */
function checkMac(bytes: Uint8Array, header: Header, end: number, password: string): void {
  const macKey = derivePkcs12(
    'sha1',
    passwordForms(password)[0]!.bmp,
    header.salt,
    KDF_MAC,
    header.iterations,
    header.version === 2 ? 20 : 2,
  );
  const mac = createHmac('sha1', macKey).update(bytes.subarray(header.start, end)).digest();
  if (!timingSafeEqual(mac, bytes.subarray(end)))
    throw new KeystoreError('ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE);
}

interface Header {
  readonly version: number;
  readonly salt: Uint8Array;
  readonly iterations: number;
  /** Where the entries start, and with them what the MAC covers. */
  readonly start: number;
}

function readHeader(r: JavaDataReader, bytes: Uint8Array): Header {
  const version = r.u32('the version');
  if (version !== 1 && version !== 2) throw formatError(`version ${version} is not 1 or 2`);
  const salt = r.bytesOf(r.u32('the salt length'), 'the salt');
  const iterations = bounded(r.u32('the iteration count'), 'the iteration count');
  const start = r.offset;
  if (r.remaining < MAC_LENGTH + 1 || (bytes[start] ?? 0xff) > SEALED)
    throw new KeystoreError('ERR_KEYSTORE_FORMAT', UBER_MESSAGE);
  return { version, salt, iterations, start };
}

/** The store as the slots tell it, with the warnings that go with it. */
function storeOf(slots: readonly Slot[], header: Header, password: string | undefined): RawStore {
  const entries: RawEntry[] = [];
  const publicKeys: string[] = [];
  for (const slot of slots) {
    const entry = slot.entry();
    if (entry) entries.push(entry);
    else publicKeys.push(printable(slot.alias));
  }
  const warnings: string[] = [];
  if (password === undefined || password === '')
    warnings.push('BKS keystore integrity not checked: no store password was given');
  if (publicKeys.length > 0)
    warnings.push(
      `the BKS keystore holds public-key entries, not listed (the broker signs with private keys): ${publicKeys.join(', ')}`,
    );
  if (header.version === 1)
    warnings.push('the BKS keystore is version 1, whose MAC key has 16 bits; convert it to PKCS#12');
  return { format: 'bks', entries, warnings };
}

/**
 * Parses a BKS keystore (v1 or v2) and verifies its MAC with the store password. A sealed
 * entry is told apart (private, public or secret key) by unsealing it with the store
 * password, two key derivations (3DES key and IV): `entries` and `warnings` do that for every sealed entry
 * when first read, `named(alias)` only for those the alias names (its other sealed public
 * keys go unmentioned in its warnings). Sealed keys are decrypted by `decryptKey`.
 *
 * @param alias the alias the caller will open, if known: the costly derivation of its sealed
 *   key starts off the event loop before the MAC is checked here, so the two overlap.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` (damaged, truncated, UBER),
 *   `ERR_KEYSTORE_PASSWORD` (the MAC does not match), `ERR_UNSUPPORTED_KEY`.
 */
export function parseBks(bytes: Uint8Array, password: string | undefined, alias?: string): RawStore {
  const r = new JavaDataReader(bytes);
  let header: Header;
  let slots: Slot[];
  try {
    header = readHeader(r, bytes);
    slots = readSlots(r, password);
    if (r.remaining !== MAC_LENGTH)
      throw formatError(`${r.remaining} bytes after the entries, not a ${MAC_LENGTH}-byte MAC`);
  } catch (error) {
    if (error instanceof JavaDataError) throw formatError(error.message);
    throw error;
  }
  if (password !== undefined && password !== '') {
    if (alias)
      for (const slot of slotsNamed(slots, alias)) if (slot.sealed) prefetchUnseal(slot.sealed, password);
    checkMac(bytes, header, r.offset, password);
  }
  let whole: RawStore | undefined;
  const all = (): RawStore => (whole ??= storeOf(slots, header, password));
  return {
    format: 'bks',
    get entries() {
      return all().entries;
    },
    get warnings() {
      return all().warnings;
    },
    named: (named) => storeOf(slotsNamed(slots, named), header, password),
  };
}

/**
 * A sealed entry may hold a private, public or secret key; the store password (usually the
 * key's too) tells which. `undefined` for a public key, which is not listed. A key that
 * does not open with the store password is taken for a private key with its own password.
 */
function sealedEntryOf(
  alias: string,
  chain: Uint8Array[],
  sealed: Sealed,
  password: string | undefined,
): RawEntry | undefined {
  const key = password ? unseal(sealed, password) : undefined;
  if (key?.type === PUBLIC_KEY) return undefined;
  if (key?.type === SECRET_KEY)
    return { alias, kind: 'secret-key', certificates: [], secretAlgorithm: key.algorithm };
  return sealedEntry(alias, chain, sealed);
}
