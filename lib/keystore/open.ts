import type { KeyObject, X509Certificate } from 'node:crypto';
import { BrokerError, KeystoreError } from '../errors.ts';
import { rethrowPending } from './work-budget.ts';
import { chooseAlgorithm, describeKey } from './algorithm.ts';
import {
  certifiesKey,
  orderChain,
  parseCertificates,
  spkiOf,
  thumbprints,
  validityOf,
  validityWarnings,
} from './certificates.ts';
import { certificateInput } from './pem-blocks.ts';
import { oneLine, printable } from './text.ts';
import type { KeyMaterial, KeystoreFormat, OpenKeystoreOptions, RawEntry, RawStore } from './types.ts';

/** Formats whose certificates come loose (any order), so the chain is ordered from the key. */
const LOOSE_CHAIN_FORMATS: ReadonlySet<KeystoreFormat> = new Set(['pem', 'jwk', 'google-json']);

function aliasList(entries: readonly RawEntry[]): string {
  return entries.map((entry) => printable(entry.alias)).join(', ');
}

/**
 * Picks the entry to open: the named alias (exact match first, then case-insensitive, as
 * keytool lower-cases aliases), or the only private-key entry when no alias is given.
 *
 * @throws KeystoreError `ERR_ALIAS_REQUIRED` when no alias is given and there are several
 *   private keys; `ERR_ALIAS_NOT_FOUND` when the alias is unknown, is not a private-key
 *   entry, or the store holds no private key at all.
 */
function selectEntry(store: RawStore, alias: string | undefined): RawEntry {
  const keys = store.entries.filter((entry) => entry.kind === 'private-key');
  if (alias === undefined || alias === '') {
    if (keys.length === 1) return keys[0]!;
    if (keys.length > 1)
      throw new KeystoreError(
        'ERR_ALIAS_REQUIRED',
        `the keystore holds ${keys.length} private keys; choose one with the alias option: ${aliasList(keys)}`,
      );
    throw noPrivateKey(store);
  }
  const found = findNamed(store.entries, alias);
  if (!found) {
    const all = store.entries.length > 0 ? aliasList(store.entries) : '(none)';
    throw new KeystoreError('ERR_ALIAS_NOT_FOUND', `alias '${printable(alias)}' not found; aliases: ${all}`);
  }
  if (found.kind !== 'private-key') {
    const choices = keys.length > 0 ? `private-key aliases: ${aliasList(keys)}` : 'the keystore holds none';
    throw new KeystoreError(
      'ERR_ALIAS_NOT_FOUND',
      `alias '${printable(found.alias)}' is a ${found.kind} entry, not a private key entry; ${choices}`,
    );
  }
  return found;
}

/** The entry `alias` names: exact match first, then a case-insensitive private key, then any. */
function findNamed(entries: readonly RawEntry[], alias: string): RawEntry | undefined {
  const wanted = alias.toLowerCase();
  return (
    entries.find((entry) => entry.alias === alias) ??
    entries.find((entry) => entry.alias.toLowerCase() === wanted && entry.kind === 'private-key') ??
    entries.find((entry) => entry.alias.toLowerCase() === wanted)
  );
}

/**
 * The store as far as opening `alias` needs, when the format can read that little
 * ({@link RawStore.named}) and it names a private key. {@link findNamed} looks only at
 * entries the alias matches case-insensitively, all of which the narrow view holds in
 * store order, so it picks what the whole store would; anything else (no alias, an error
 * to report with the store's other aliases) takes the whole store.
 */
function narrowed(store: RawStore, alias: string | undefined): RawStore {
  if (alias === undefined || alias === '' || !store.named) return store;
  const view = store.named(alias);
  return findNamed(view.entries, alias)?.kind === 'private-key' ? view : store;
}

function noPrivateKey(store: RawStore): KeystoreError {
  const listed = store.entries.map((entry) => `${printable(entry.alias)} (${entry.kind})`).join(', ');
  return new KeystoreError(
    'ERR_ALIAS_NOT_FOUND',
    `the keystore holds no private-key entry; entries: ${listed || '(none)'}; add the key to the store`,
  );
}

/**
 * Decrypts an entry's key with the key password, falling back to the store password.
 *
 * @throws KeystoreError `ERR_KEY_PASSWORD` when the password is wrong or missing.
 */
export function decryptEntry(entry: RawEntry, options: OpenKeystoreOptions): KeyObject {
  if (!entry.decryptKey)
    throw new KeystoreError('ERR_ALIAS_NOT_FOUND', `entry '${printable(entry.alias)}' holds no private key`);
  let key: KeyObject;
  try {
    key = entry.decryptKey(options.keyPassword ?? options.password);
  } catch (cause) {
    rethrowPending(cause);
    if (cause instanceof BrokerError) throw cause;
    throw new KeystoreError(
      'ERR_KEY_PASSWORD',
      `the key of '${printable(entry.alias)}' could not be decrypted; check the key password`,
      { cause },
    );
  }
  if (key.type !== 'private')
    throw new KeystoreError('ERR_UNSUPPORTED_KEY', `entry '${printable(entry.alias)}' holds no private key`);
  return key;
}

/**
 * The entry's certificate chain, leaf first: the store's own, else the one given in
 * `options.certificate`. Loose certificates are ordered so the one matching `spki` leads.
 */
export function entryChain(
  store: RawStore,
  entry: RawEntry,
  options: OpenKeystoreOptions,
  spki: Buffer | undefined,
): X509Certificate[] {
  const own = entry.certificates.length > 0;
  const ders = own ? entry.certificates : options.certificate ? certificateInput(options.certificate) : [];
  const chain = parseCertificates(ders, printable(entry.alias));
  return spki && (!own || LOOSE_CHAIN_FORMATS.has(store.format)) ? orderChain(chain, spki) : chain;
}

/**
 * Opens one private key of a parsed store: picks the alias, decrypts the key, checks its
 * type and that it matches the leaf certificate, and computes the thumbprints.
 *
 * @throws KeystoreError `ERR_ALIAS_REQUIRED`, `ERR_ALIAS_NOT_FOUND`, `ERR_KEY_PASSWORD`,
 *   `ERR_UNSUPPORTED_KEY`, `ERR_KEY_CERT_MISMATCH`, `ERR_KEYSTORE_FORMAT` (damaged certificate).
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1.8
 */
export function openRawStore(whole: RawStore, options: OpenKeystoreOptions = {}): KeyMaterial {
  const store = narrowed(whole, options.alias);
  const entry = selectEntry(store, options.alias);
  const privateKey = decryptEntry(entry, options);
  const jwsAlgorithm = chooseAlgorithm(describeKey(privateKey), options.algorithm, entry.algorithm);
  const spki = spkiOf(privateKey);
  const certificates = entryChain(store, entry, options, spki);
  const alias = printable(entry.alias);
  const leaf = certificates[0];
  const warnings = [...store.warnings];
  if (leaf && !certifiesKey(leaf, spki))
    throw new KeystoreError(
      'ERR_KEY_CERT_MISMATCH',
      `the private key of '${alias}' does not match its certificate (${oneLine(leaf.subject)}); ` +
        'store the key together with its own certificate',
    );
  const validity = leaf ? validityOf(leaf) : undefined;
  if (validity) warnings.push(...validityWarnings(validity, alias, options.now ?? new Date()));
  const prints = leaf ? thumbprints(leaf.raw) : undefined;
  return {
    alias: entry.alias,
    format: store.format,
    privateKey,
    certificates,
    jwsAlgorithm,
    x5t: prints?.x5t,
    x5tS256: prints?.x5tS256,
    notAfter: validity?.notAfter,
    kid: entry.kid,
    clientEmail: entry.clientEmail,
    warnings,
  };
}
