import type { KeyObject } from 'node:crypto';
import { BrokerError } from '../errors.ts';
import { algorithmsFor, describeKey, keyPhrase, SUPPORTED_KEYS, type KeyDescription } from './algorithm.ts';
import { certifiesKey, spkiOf, thumbprints, validityOf, validityWarnings } from './certificates.ts';
import { decryptEntry, entryChain } from './open.ts';
import { oneLine, printable } from './text.ts';
import type { KeystoreEntry, KeystoreListing, OpenKeystoreOptions, RawEntry, RawStore } from './types.ts';

/**
 * Lists every entry of a parsed store with what can be said about it without a secret:
 * key type and size, default JWS algorithm, certificate subject, issuer, validity and
 * `x5t#S256`. Private keys are decrypted to describe them; when that fails (no or wrong
 * key password) the certificate's public key describes the entry and a warning says so.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for a damaged certificate.
 */
export function listRawStore(store: RawStore, options: OpenKeystoreOptions = {}): KeystoreListing {
  return listRawStoreWithKeys(store, options).listing;
}

/**
 * {@link listRawStore}, with the decrypted private key of each entry (same index), so the
 * caller can prove that a listed key signs.
 */
export function listRawStoreWithKeys(
  store: RawStore,
  options: OpenKeystoreOptions = {},
): { listing: KeystoreListing; keys: (KeyObject | undefined)[] } {
  const warnings = [...store.warnings];
  const now = options.now ?? new Date();
  const keys: (KeyObject | undefined)[] = [];
  const entries = store.entries.map((entry) => listEntry(store, entry, options, now, warnings, keys));
  return { listing: { format: store.format, entries, warnings }, keys };
}

function listEntry(
  store: RawStore,
  entry: RawEntry,
  options: OpenKeystoreOptions,
  now: Date,
  warnings: string[],
  keys: (KeyObject | undefined)[],
): KeystoreEntry {
  const alias = printable(entry.alias);
  let privateKey: KeyObject | undefined;
  if (entry.kind === 'private-key') {
    try {
      privateKey = decryptEntry(entry, options);
    } catch (err) {
      if (!(err instanceof BrokerError) || err.code !== 'ERR_KEY_PASSWORD') throw err;
      warnings.push(`key of '${alias}' not decrypted (${err.message})`);
    }
  }
  keys.push(privateKey);
  const spki = privateKey ? spkiOf(privateKey) : undefined;
  const chain = entryChain(store, entry, options, spki);
  const leaf = chain[0];
  const validity = leaf ? validityOf(leaf) : undefined;
  if (validity) warnings.push(...validityWarnings(validity, alias, now));
  if (leaf && spki && !certifiesKey(leaf, spki))
    warnings.push(`the private key of '${alias}' does not match its certificate`);

  let description: KeyDescription | undefined;
  const publicSource = privateKey ?? leaf?.publicKey;
  if (publicSource) description = describeKey(publicSource);
  const algorithms = description ? algorithmsFor(description) : [];
  if (entry.kind === 'private-key' && description && algorithms.length === 0)
    warnings.push(
      `'${alias}' holds an ${keyPhrase(description)}, which is not supported; use ${SUPPORTED_KEYS}`,
    );
  const preferred = entry.algorithm && algorithms.includes(entry.algorithm) ? entry.algorithm : algorithms[0];

  return {
    alias: entry.alias,
    kind: entry.kind,
    keyAlgorithm: entry.kind === 'secret-key' ? entry.secretAlgorithm : description?.keyAlgorithm,
    keySize: entry.kind === 'secret-key' ? undefined : description?.keySize,
    curve: entry.kind === 'secret-key' ? undefined : description?.curve,
    jwsAlgorithm: entry.kind === 'private-key' ? preferred : undefined,
    subject: leaf ? oneLine(leaf.subject) : undefined,
    issuer: leaf ? oneLine(leaf.issuer) : undefined,
    notBefore: validity?.notBefore,
    notAfter: validity?.notAfter,
    x5tS256: leaf ? thumbprints(leaf.raw).x5tS256 : undefined,
  };
}
