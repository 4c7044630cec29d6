import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { rethrowPending } from './work-budget.ts';
import {
  type Asn1,
  Asn1Error,
  CONTEXT_0,
  CONTEXT_0_PRIMITIVE,
  explicit,
  oid,
  octets,
  readElement,
  sequence,
  smallInt,
} from './asn1.ts';
import {
  type Pkcs12Bag,
  privateKeyInfoAlgorithm,
  readEncryptedKey,
  readSafeContents,
} from './pkcs12-bags.ts';
import { DecryptFailure, type Pkcs12Password, decryptorFor, passwordForms } from './pkcs12-cipher.ts';
import { readMac } from './pkcs12-mac.ts';
import { printable } from './text.ts';
import type { RawEntry, RawStore } from './types.ts';

const DATA = '1.2.840.113549.1.7.1';
const SIGNED_DATA = '1.2.840.113549.1.7.2';
const ENVELOPED_DATA = '1.2.840.113549.1.7.3';
const ENCRYPTED_DATA = '1.2.840.113549.1.7.6';

const PASSWORD_MESSAGE = 'wrong keystore password (or the file was altered); check certPassword';

function formatError(detail: string, cause?: unknown): KeystoreError {
  return new KeystoreError(
    'ERR_KEYSTORE_FORMAT',
    `not a valid PKCS#12 file: ${detail}; check certStoreType and that the file is complete`,
    { cause },
  );
}

/** Runs a structural step, turning a malformed structure into `ERR_KEYSTORE_FORMAT`. */
function structure<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof Asn1Error) throw formatError(error.message, error);
    throw error;
  }
}

/** PFX (RFC 7292 §4): the authenticated content and the optional MacData. */
function readPfx(bytes: Uint8Array): { authSafe: Uint8Array; macData: Asn1 | undefined } {
  if (bytes.length === 0) throw formatError('the file is empty');
  if (bytes[0] !== 0x30) throw formatError('it does not start with an ASN.1 SEQUENCE');
  const [version, authSafe, macData] = sequence(readElement(bytes, 'PKCS#12 PFX', true), 'PKCS#12 PFX');
  const number = smallInt(version, 'PKCS#12 version');
  if (number !== 3) throw formatError(`PFX version ${number} is not 3`);
  const [typeEl, contentEl] = sequence(authSafe, 'PKCS#12 authSafe');
  const type = oid(typeEl, 'PKCS#12 authSafe content type');
  if (type === SIGNED_DATA)
    throw formatError('public-key integrity mode (signedData) is not supported; re-export with a password');
  if (type !== DATA) throw formatError(`authSafe content type ${type} is not data`);
  return {
    authSafe: octets(explicit(contentEl, CONTEXT_0, 'PKCS#12 authSafe'), 'PKCS#12 authSafe'),
    macData,
  };
}

/** Tries each password form on encrypted data until the plaintext has the expected shape. */
function decryptWithAny<T>(
  forms: readonly Pkcs12Password[],
  decrypt: (form: Pkcs12Password) => Buffer,
  shape: (plain: Buffer) => T,
  passwordKnown: boolean,
): T | undefined {
  for (const form of forms) {
    let plain: Buffer;
    try {
      plain = decrypt(form);
    } catch (error) {
      if (error instanceof DecryptFailure) continue;
      throw error;
    }
    try {
      return shape(plain);
    } catch (error) {
      // Garbage from a wrong password (no padding to tell by, for RC4) or, with a verified
      // password, a malformed plaintext.
      if (error instanceof Asn1Error && !passwordKnown) continue;
      throw error;
    }
  }
  return undefined;
}

/** The bags of one ContentInfo of the AuthenticatedSafe (RFC 7292 §4.1). */
function readContentInfo(
  contentInfo: Asn1,
  forms: readonly Pkcs12Password[],
  passwordKnown: boolean,
  legacy: Set<string>,
): Pkcs12Bag[] {
  const [typeEl, contentEl] = sequence(contentInfo, 'PKCS#12 ContentInfo');
  const type = oid(typeEl, 'PKCS#12 ContentInfo type');
  if (type === DATA)
    return readSafeContents(octets(explicit(contentEl, CONTEXT_0, 'PKCS#12 data'), 'PKCS#12 data'));
  if (type === ENVELOPED_DATA)
    throw formatError('public-key privacy mode (envelopedData) is not supported; re-export with a password');
  if (type !== ENCRYPTED_DATA) throw formatError(`ContentInfo type ${type} is not supported`);
  const [, encryptedContentInfo] = sequence(
    explicit(contentEl, CONTEXT_0, 'PKCS#12 encryptedData'),
    'PKCS#12 encryptedData',
  );
  const [, algorithm, data] = sequence(encryptedContentInfo, 'PKCS#12 EncryptedContentInfo');
  const decryptor = decryptorFor(algorithm, 'certificates');
  if (decryptor.legacy) legacy.add(decryptor.name);
  const encrypted = data
    ? octets(data, 'PKCS#12 encrypted content', [CONTEXT_0_PRIMITIVE])
    : new Uint8Array(0);
  const bags = decryptWithAny(
    forms,
    (form) => decryptor.decrypt(form, encrypted),
    readSafeContents,
    passwordKnown,
  );
  if (!bags) throw new KeystoreError('ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE);
  return bags;
}

/** Decrypts a shrouded key bag and checks that it holds a PrivateKeyInfo. */
function decryptKeyBag(
  bag: Pkcs12Bag,
  forms: readonly Pkcs12Password[],
): { der: Buffer; algorithm: string } | undefined {
  const { algorithm, data } = structure(() => readEncryptedKey(bag.value));
  const decryptor = structure(() => decryptorFor(algorithm, 'private key'));
  return decryptWithAny(
    forms,
    (form) => decryptor.decrypt(form, data),
    (der) => ({ der, algorithm: privateKeyInfoAlgorithm(der) }),
    false,
  );
}

/**
 * The MAC did not verify: a wrong password, or a file altered after it was written. When
 * the password still decrypts a key (or the encrypted certificates), it is right and the
 * file was altered.
 */
function macFailure(authSafe: Uint8Array, forms: readonly Pkcs12Password[]): KeystoreError {
  const altered = new KeystoreError(
    'ERR_KEYSTORE_INTEGRITY',
    'the PKCS#12 integrity check (MAC) failed although the password is right: the file was altered or damaged; ' +
      'restore it from its source',
  );
  try {
    const contentInfos = sequence(
      readElement(authSafe, 'PKCS#12 AuthenticatedSafe'),
      'PKCS#12 AuthenticatedSafe',
    );
    const plain = contentInfos.filter(
      (ci) => oid(sequence(ci, 'PKCS#12 ContentInfo')[0], 'PKCS#12 ContentInfo') === DATA,
    );
    for (const ci of plain) {
      const bag = readContentInfo(ci, forms, false, new Set()).find((b) => b.type === 'shrouded-key');
      if (bag)
        return decryptKeyBag(bag, forms)
          ? altered
          : new KeystoreError('ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE);
    }
    for (const ci of contentInfos) if (!plain.includes(ci)) readContentInfo(ci, forms, false, new Set());
    return contentInfos.length > plain.length
      ? altered
      : new KeystoreError('ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE);
  } catch (error) {
    rethrowPending(error);
    if (error instanceof Asn1Error) return altered;
    if (error instanceof KeystoreError && error.code === 'ERR_KEYSTORE_PASSWORD') return error;
    return new KeystoreError('ERR_KEYSTORE_PASSWORD', PASSWORD_MESSAGE);
  }
}

function keyDecryptor(bag: Pkcs12Bag, alias: string): (password: string | undefined) => KeyObject {
  return (password) => {
    let der: Buffer | Uint8Array = bag.value;
    let algorithm: string;
    if (bag.type === 'shrouded-key') {
      const opened = decryptKeyBag(bag, passwordForms(password));
      if (!opened)
        throw new KeystoreError(
          'ERR_KEY_PASSWORD',
          `the private key of '${printable(alias)}' could not be decrypted: wrong key password ` +
            '(in PKCS#12 it is normally the store password, certPassword)',
        );
      ({ der, algorithm } = opened);
    } else {
      algorithm = structure(() => privateKeyInfoAlgorithm(bag.value));
    }
    try {
      return createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    } catch (cause) {
      throw new KeystoreError(
        'ERR_UNSUPPORTED_KEY',
        `the private key of '${printable(alias)}' (algorithm OID ${algorithm}) cannot be loaded; ` +
          'use an RSA, EC (P-256, P-384, P-521) or Ed25519 key',
        { cause },
      );
    }
  };
}

/** The certificate chain from `leaf`, following issuers among the store's certificates. */
function chainFrom(leaf: Pkcs12Bag, certs: readonly Pkcs12Bag[]): Pkcs12Bag[] {
  const chain = [leaf];
  if (certs.length === 1) return chain;
  const parsed = new Map<Pkcs12Bag, X509Certificate | undefined>();
  const x509 = (bag: Pkcs12Bag): X509Certificate | undefined => {
    if (!parsed.has(bag)) {
      try {
        parsed.set(bag, new X509Certificate(bag.value));
      } catch {
        parsed.set(bag, undefined);
      }
    }
    return parsed.get(bag);
  };
  for (let current = x509(leaf); current && !current.checkIssued(current);) {
    const issuer = certs.find((bag) => !chain.includes(bag) && x509(bag) && current!.checkIssued(x509(bag)!));
    if (!issuer) break;
    chain.push(issuer);
    current = x509(issuer);
  }
  return chain;
}

/** Pairs keys with certificates (localKeyId, else friendlyName) and names every entry. */
function entriesOf(bags: readonly Pkcs12Bag[]): RawEntry[] {
  const keys = bags.filter((bag) => bag.type === 'key' || bag.type === 'shrouded-key');
  const certs = bags.filter((bag) => bag.type === 'cert');
  const taken = new Set(
    bags.flatMap((bag) => (bag.friendlyName === undefined ? [] : [bag.friendlyName.toLowerCase()])),
  );
  let counter = 0;
  // Like Java, entries without a friendlyName are numbered in file order.
  const derived = (): string => {
    do counter++;
    while (taken.has(String(counter)));
    taken.add(String(counter));
    return String(counter);
  };
  const used = new Set<Pkcs12Bag>();
  const entries: RawEntry[] = [];
  for (const key of keys) {
    const untrusted = certs.filter((cert) => !cert.trusted);
    const leaf =
      (key.localKeyId !== undefined ? certs.find((cert) => cert.localKeyId === key.localKeyId) : undefined) ??
      (key.friendlyName !== undefined
        ? untrusted.find((cert) => cert.friendlyName === key.friendlyName)
        : undefined) ??
      (keys.length === 1 && untrusted.length === 1 ? untrusted[0] : undefined);
    const chain = leaf ? chainFrom(leaf, certs) : [];
    for (const cert of chain) used.add(cert);
    const alias = key.friendlyName ?? leaf?.friendlyName ?? derived();
    entries.push({
      alias,
      kind: 'private-key',
      certificates: chain.map((cert) => cert.value),
      decryptKey: keyDecryptor(key, alias),
    });
  }
  for (const cert of certs)
    if (cert.trusted || !used.has(cert))
      entries.push({
        alias: cert.friendlyName ?? derived(),
        kind: 'trusted-cert',
        certificates: [cert.value],
      });
  for (const secret of bags.filter((bag) => bag.type === 'secret'))
    entries.push({ alias: secret.friendlyName ?? derived(), kind: 'secret-key', certificates: [] });
  return entries;
}

/**
 * Parses a PKCS#12 (PFX) file: checks the MAC with the store password, decrypts the
 * certificate contents, and lists private keys (decrypted on demand by `decryptKey`),
 * trusted certificates and secret keys. Secret keys are listed, not decrypted.
 *
 * @param password the store password; `undefined` and `''` are both tried as OpenSSL does.
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` (malformed, truncated, unsupported algorithm),
 *   `ERR_KEYSTORE_PASSWORD` (wrong password), `ERR_KEYSTORE_INTEGRITY` (MAC fails although
 *   the password decrypts the key: the file was altered).
 * @see https://www.rfc-editor.org/rfc/rfc7292
 * @see https://www.rfc-editor.org/rfc/rfc9579
 */
export function parsePkcs12(bytes: Uint8Array, password: string | undefined): RawStore {
  const forms = passwordForms(password);
  const { authSafe, macData } = structure(() => readPfx(bytes));
  const legacy = new Set<string>();
  const warnings: string[] = [];
  let usable = forms;
  if (macData) {
    const mac = structure(() => readMac(macData));
    if (mac.legacy) legacy.add(mac.name);
    const match = forms.find((form) => mac.verify(form, authSafe));
    if (!match) throw macFailure(authSafe, forms);
    usable = [match];
  } else {
    warnings.push('the PKCS#12 file has no integrity check (MAC); re-export it with a password-based MAC');
  }
  const bags = structure(() =>
    sequence(readElement(authSafe, 'PKCS#12 AuthenticatedSafe'), 'PKCS#12 AuthenticatedSafe').flatMap((ci) =>
      readContentInfo(ci, usable, macData !== undefined, legacy),
    ),
  );
  const entries = entriesOf(bags);
  for (const bag of bags) {
    if (bag.type !== 'shrouded-key') continue;
    try {
      const decryptor = decryptorFor(readEncryptedKey(bag.value).algorithm, 'private key');
      if (decryptor.legacy) legacy.add(decryptor.name);
    } catch {
      // A key whose protection cannot be read is reported when it is opened, not when listed.
    }
  }
  if (legacy.size > 0)
    warnings.push(
      `the PKCS#12 file uses legacy protection (${[...legacy].join(', ')}); re-export it with AES-256 ` +
        '(the keytool 17 default, or openssl pkcs12 -export without -legacy)',
    );
  return { format: 'pkcs12', entries, warnings };
}
