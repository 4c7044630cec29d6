import { createPrivateKey, type KeyObject } from 'node:crypto';
import { BrokerError, KeystoreError } from '../errors.ts';
import { rethrowPending } from './work-budget.ts';
import { Asn1Error } from './asn1.ts';
import { encryptedData, pkcs8Scheme, type Pkcs8Scheme } from './pkcs8-legacy.ts';
import { isWholeDerSequence, readDerHeader } from './der.ts';
import { pemBlocks, type PemBlock } from './pem-blocks.ts';
import type { RawEntry, RawStore } from './types.ts';

const KEY_LABELS = new Set([
  'PRIVATE KEY',
  'RSA PRIVATE KEY',
  'EC PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'DSA PRIVATE KEY',
]);
const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE']);
/** Decoding DER with its declared type skips OpenSSL's trial of every decoder. */
const DER_TYPES: Readonly<Record<string, 'pkcs8' | 'pkcs1' | 'sec1'>> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};
const PUBLIC_LABELS = new Set(['PUBLIC KEY', 'RSA PUBLIC KEY']);

/**
 * Parses PEM text: private keys (PKCS#1 `RSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY`, encrypted
 * PKCS#8 `ENCRYPTED PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, and legacy OpenSSL encryption with
 * `Proc-Type: 4,ENCRYPTED`) and certificates, in any order. One key is entry `key`; several
 * are `key-1`, `key-2`… Every certificate in the file goes with the keys (the opener picks
 * the one matching the key as leaf); a file of certificates only gives trusted-cert entries.
 * Keys are decrypted only when opened.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for damaged or truncated blocks, or text with
 *   no key or certificate; `ERR_UNSUPPORTED_KEY` for a file holding only a public key.
 * @see https://www.rfc-editor.org/rfc/rfc7468
 * @see https://www.rfc-editor.org/rfc/rfc5958#section-3
 */
export function parsePem(bytes: Uint8Array): RawStore {
  const text = Buffer.from(bytes)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  if (text.includes('-----BEGIN OPENSSH PRIVATE KEY-----'))
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'OpenSSH private key format is not supported; convert it with `ssh-keygen -p -m PKCS8 -f <file>`',
    );
  const blocks = pemBlocks(text);
  const keys = blocks.filter((block) => KEY_LABELS.has(block.label));
  const certificates = blocks.filter((block) => CERT_LABELS.has(block.label)).map(certificateDer);
  if (keys.length === 0) {
    if (certificates.length > 0)
      return { format: 'pem', entries: trustedEntries(certificates), warnings: [] };
    if (blocks.some((block) => PUBLIC_LABELS.has(block.label)))
      throw new KeystoreError(
        'ERR_UNSUPPORTED_KEY',
        'the PEM holds a public key but no private key; give the private key (BEGIN PRIVATE KEY)',
      );
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'the PEM holds no private key or certificate; give a file with a BEGIN PRIVATE KEY block',
    );
  }
  const entries = keys.map((block, index): RawEntry => ({
    alias: keys.length === 1 ? 'key' : `key-${index + 1}`,
    kind: 'private-key',
    certificates,
    decryptKey: keyDecrypter(block, keys.length === 1 ? 'key' : `key-${index + 1}`),
  }));
  return { format: 'pem', entries, warnings: [] };
}

function trustedEntries(certificates: readonly Uint8Array[]): RawEntry[] {
  return certificates.map((der, index) => ({
    alias: certificates.length === 1 ? 'cert' : `cert-${index + 1}`,
    kind: 'trusted-cert',
    certificates: [der],
  }));
}

/** A `TRUSTED CERTIFICATE` block carries OpenSSL trust settings after the certificate. */
function certificateDer(block: PemBlock): Uint8Array {
  const header = readDerHeader(block.der);
  if (!header || header.tag !== 0x30 || header.contentStart + header.length > block.der.length)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `PEM block '${block.label}' is truncated or damaged; export the certificate again`,
    );
  return block.der.subarray(0, header.contentStart + header.length);
}

function keyDecrypter(block: PemBlock, alias: string): (password: string | undefined) => KeyObject {
  const legacyEncrypted = /ENCRYPTED/.test(block.headers['Proc-Type'] ?? '');
  const encrypted = legacyEncrypted || block.label === 'ENCRYPTED PRIVATE KEY';
  if (!legacyEncrypted && !isWholeDerSequence(block.der))
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `PEM block '${block.label}' is truncated or damaged; export the key again`,
    );
  if (!encrypted) {
    return () => {
      try {
        const type = DER_TYPES[block.label];
        return type
          ? createPrivateKey({ key: Buffer.from(block.der), format: 'der', type })
          : createPrivateKey({ key: block.text, format: 'pem' });
      } catch (cause) {
        throw new KeystoreError(
          'ERR_KEYSTORE_FORMAT',
          `PEM key '${alias}' could not be read: damaged, or a key type Node.js does not know`,
          { cause },
        );
      }
    };
  }
  // The scheme is read now, so a cipher the broker lacks is named, never a wrong password.
  const scheme = legacyEncrypted ? undefined : readScheme(block, alias);
  return (password) => {
    if (password === undefined || password === '')
      throw new KeystoreError(
        'ERR_KEY_PASSWORD',
        `PEM key '${alias}' is encrypted and needs a password; give the key password`,
      );
    if (scheme?.kind === 'legacy') return openLegacy(block, scheme, alias, password);
    try {
      return legacyEncrypted
        ? createPrivateKey({ key: block.text, format: 'pem', passphrase: password })
        : createPrivateKey({
            key: Buffer.from(block.der),
            format: 'der',
            type: 'pkcs8',
            passphrase: password,
          });
    } catch (cause) {
      throw new KeystoreError(
        'ERR_KEY_PASSWORD',
        `PEM key '${alias}' could not be decrypted: wrong password (or a cipher OpenSSL 3 lacks; ` +
          're-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)',
        { cause },
      );
    }
  };
}

function readScheme(block: PemBlock, alias: string): Pkcs8Scheme {
  try {
    return pkcs8Scheme(block.der);
  } catch (cause) {
    if (cause instanceof Asn1Error)
      throw new KeystoreError(
        'ERR_KEYSTORE_FORMAT',
        `PEM key '${alias}' has damaged encryption parameters (${cause.message}); export the key again`,
        { cause },
      );
    throw cause;
  }
}

/** A PBES1/RC2/DES key, decrypted here since Node's OpenSSL 3 lacks those ciphers. */
function openLegacy(
  block: PemBlock,
  scheme: Extract<Pkcs8Scheme, { kind: 'legacy' }>,
  alias: string,
  password: string,
): KeyObject {
  let der: Buffer;
  try {
    der = scheme.decrypt(password, encryptedData(block.der));
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    rethrowPending(cause);
    if (cause instanceof BrokerError) throw cause;
    throw new KeystoreError(
      'ERR_KEY_PASSWORD',
      `PEM key '${alias}' could not be decrypted (${scheme.name}): wrong password; check the key password`,
      { cause },
    );
  }
}
