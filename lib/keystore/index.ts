/**
 * The keystore front door: detects the format, loads only that format's parser, and opens
 * or lists the store. The rest of the broker sees a Node `KeyObject`, the certificate chain
 * and thumbprints, never a format library.
 */
import { KeystoreError } from '../errors.ts';
import { looksLikePfx } from './der.ts';
import { FailedOpens } from './failed-opens.ts';
import { runOpen } from './work-budget.ts';
import type {
  KeystoreFormat,
  KeystoreType,
  ListKeystore,
  OpenKeystore,
  OpenKeystoreOptions,
  RawStore,
} from './types.ts';

/** Largest keystore accepted; real stores are a few kilobytes. */
export const MAX_KEYSTORE_BYTES = 1024 * 1024;

const FORMAT_NAMES: Readonly<Record<KeystoreFormat, string>> = {
  jks: 'JKS',
  jceks: 'JCEKS',
  pkcs12: 'PKCS#12',
  bks: 'BKS',
  pem: 'PEM',
  jwk: 'JWK',
  'google-json': 'Google service-account JSON',
};

const NOT_A_KEYSTORE =
  'not a keystore: expected JKS, JCEKS, PKCS#12, BKS, PEM, JWK or Google service-account JSON';

/**
 * Tells the format from the bytes: JKS (magic FEEDFEED), JCEKS (CECECECE), PKCS#12 (a DER
 * or BER PFX, version 3), BKS or UBER (version 1 or 2, a salt, an iteration count), PEM (`-----BEGIN` after whitespace or a BOM, or on a line after
 * printable text such as bag attributes), a JWK or JWK Set (JSON with
 * `kty` or `keys`), or a Google service-account file (JSON with `type: "service_account"`,
 * or `private_key` and `client_email`).
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when the bytes are empty or none of these.
 * @see https://www.rfc-editor.org/rfc/rfc7292#section-4
 */
export function detectFormat(bytes: Uint8Array): KeystoreFormat {
  if (bytes.length === 0)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      'the keystore is empty; check the file or secret it comes from',
    );
  if (startsWith(bytes, [0xfe, 0xed, 0xfe, 0xed])) return 'jks';
  if (startsWith(bytes, [0xce, 0xce, 0xce, 0xce])) return 'jceks';
  if (looksLikePfx(bytes)) return 'pkcs12';
  if (looksLikeBks(bytes)) return 'bks';
  let start = startsWith(bytes, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (start < bytes.length && isSpace(bytes[start]!)) start++;
  const head = Buffer.from(bytes.subarray(start, start + 10)).toString('latin1');
  if (head === '-----BEGIN' || pemAfterText(bytes.subarray(start))) return 'pem';
  if (head.startsWith('{')) {
    const json = jsonObject(bytes.subarray(start));
    if (json) {
      if (typeof json['kty'] === 'string' || Array.isArray(json['keys'])) return 'jwk';
      if (json['type'] === 'service_account' || ('private_key' in json && 'client_email' in json))
        return 'google-json';
    }
  }
  throw new KeystoreError('ERR_KEYSTORE_FORMAT', NOT_A_KEYSTORE);
}

/**
 * BouncyCastle BKS/UBER header: version 1 or 2, a salt of 1..255 bytes (BouncyCastle
 * writes 20), then an iteration count of 1..2^24 (it writes 1024..2047).
 */
function looksLikeBks(bytes: Uint8Array): boolean {
  if (bytes.length < 12 || !startsWith(bytes, [0, 0, 0]) || (bytes[3] !== 1 && bytes[3] !== 2)) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const saltLength = view.getUint32(4);
  if (saltLength < 1 || saltLength > 255 || bytes.length < 12 + saltLength) return false;
  const iterations = view.getUint32(8 + saltLength);
  return iterations >= 1 && iterations < 1 << 24;
}

/** How far into a file a PEM block may start after leading text (bag attributes, a dump). */
const PEM_SEARCH_BYTES = 64 * 1024;

/**
 * True for text with a PEM BEGIN line after other lines: what `openssl pkcs12 -nodes`
 * (Bag Attributes), `openssl x509 -text` (a dump) or a commented file writes. The leading
 * text must be printable, so binary data that happens to hold the marker is not PEM.
 */
function pemAfterText(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, PEM_SEARCH_BYTES)).toString('latin1');
  const at = head.search(/\n-----BEGIN [A-Z0-9 ]+-----/);
  // eslint-disable-next-line no-control-regex
  return at > 0 && !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(head.slice(0, at));
}

function startsWith(bytes: Uint8Array, magic: readonly number[]): boolean {
  return magic.every((byte, index) => bytes[index] === byte);
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function jsonObject(bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The format to parse with: detected for `auto`, else the one asked for if the bytes agree. */
function resolveFormat(bytes: Uint8Array, type: KeystoreType): KeystoreFormat {
  if (type === 'auto') return detectFormat(bytes);
  let detected: KeystoreFormat | undefined;
  try {
    detected = detectFormat(bytes);
  } catch {
    // Unrecognised bytes go to the named parser, which says precisely what is wrong.
  }
  if (detected !== undefined && detected !== type)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `the keystore is ${FORMAT_NAMES[detected]}, not ${FORMAT_NAMES[type]}; set the type to '${detected}' or 'auto'`,
    );
  return type;
}

/** Loads a module once; later calls reuse the promise (no loader round trip per call). */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => (loaded ??= load());
}

/** Format code, loaded only when a store of that format is first seen (cold start). */
const formats = {
  jks: once(() => import('./jks.ts')),
  jceks: once(() => import('./jceks.ts')),
  pkcs12: once(() => import('./pkcs12.ts')),
  bks: once(() => import('./bks.ts')),
  pem: once(() => import('./pem.ts')),
  jwk: once(() => import('./jwk.ts')),
  open: once(() => import('./open.ts')),
  list: once(() => import('./list.ts')),
  probe: once(() => import('./probe.ts')),
};

/** The synchronous parser of a format, its module imported only when the format is met. */
async function parserFor(
  bytes: Uint8Array,
  options: OpenKeystoreOptions,
): Promise<(bytes: Uint8Array, options: OpenKeystoreOptions) => RawStore> {
  if (bytes.length > MAX_KEYSTORE_BYTES)
    throw new KeystoreError(
      'ERR_KEYSTORE_TOO_LARGE',
      `the keystore is ${bytes.length} bytes, over the ${MAX_KEYSTORE_BYTES}-byte limit; give the keystore itself`,
    );
  const type = options.type ?? 'auto';
  if (!(type in FORMAT_NAMES) && type !== 'auto')
    throw new TypeError(`unknown keystore type '${String(type)}'`);
  switch (resolveFormat(bytes, type)) {
    case 'jks': {
      const { parseJks } = await formats.jks();
      return (b, o) => parseJks(b, o.password);
    }
    case 'jceks': {
      const { parseJceks } = await formats.jceks();
      return (b, o) => parseJceks(b, o.password);
    }
    case 'pkcs12': {
      const { parsePkcs12 } = await formats.pkcs12();
      return (b, o) => parsePkcs12(b, o.password);
    }
    case 'bks': {
      const { parseBks } = await formats.bks();
      return (b, o) => parseBks(b, o.password, o.alias);
    }
    case 'pem':
      return (await formats.pem()).parsePem;
    case 'jwk':
      return (await formats.jwk()).parseJwk;
    case 'google-json':
      return (await formats.jwk()).parseGoogleJson;
  }
}

/** Options of {@link createKeystoreOpener}. */
export interface KeystoreOpenerOptions {
  /** Remembers failed opens; default: a memory of {@link FAILED_OPEN_MEMORY_MS} on `Date.now`. */
  readonly failedOpens?: FailedOpens;
}

/**
 * An opener and lister of keystores sharing one memory of failed opens: the same bytes
 * and options that failed less than 30 s ago fail again with the same error at once.
 * Each open runs within the {@link KEYSTORE_WORK_BUDGET}.
 */
export function createKeystoreOpener(opener: KeystoreOpenerOptions = {}): {
  openKeystore: OpenKeystore;
  listKeystore: ListKeystore;
} {
  const failedOpens = opener.failedOpens ?? new FailedOpens();
  const run = async <T>(
    kind: 'open' | 'list',
    bytes: Uint8Array,
    options: OpenKeystoreOptions,
    finish: (store: RawStore) => T,
    prove: (value: T) => Promise<T> = async (value) => value,
  ): Promise<T> => {
    const key = failedOpens.key(kind, bytes, options);
    const known = failedOpens.recall(key);
    if (known) throw known;
    try {
      const parse = await parserFor(bytes, options);
      return await prove(await runOpen(() => finish(parse(bytes, options))));
    } catch (error) {
      failedOpens.remember(key, error);
      throw error;
    }
  };
  return {
    async openKeystore(bytes, options = {}) {
      const [{ openRawStore }, { provenSigningKey }] = await Promise.all([formats.open(), formats.probe()]);
      return run(
        'open',
        bytes,
        options,
        (store) => openRawStore(store, options),
        async (material) => ({
          ...material,
          privateKey: await provenSigningKey(material.privateKey, material.jwsAlgorithm, material.alias),
        }),
      );
    },
    async listKeystore(bytes, options = {}) {
      const [{ listRawStoreWithKeys }, { provenSigningKey }] = await Promise.all([
        formats.list(),
        formats.probe(),
      ]);
      const { listing, keys } = await run('list', bytes, options, (store) =>
        listRawStoreWithKeys(store, options),
      );
      const warnings = [...listing.warnings];
      // A key listed with a JWS algorithm is one that signs with it; the others say why not.
      const entries = await Promise.all(
        listing.entries.map(async (entry, index) => {
          const key = keys[index];
          if (!key || !entry.jwsAlgorithm) return entry;
          try {
            await provenSigningKey(key, entry.jwsAlgorithm, entry.alias);
            return entry;
          } catch (error) {
            if (!(error instanceof KeystoreError)) throw error;
            warnings.push(`${error.code}: ${error.message}`);
            return { ...entry, jwsAlgorithm: undefined };
          }
        }),
      );
      return { ...listing, entries, warnings };
    },
  };
}

const opener = createKeystoreOpener();

/**
 * Opens one private key from keystore bytes, ready to sign. A failed open is remembered
 * for 30 s per keystore content and options (see {@link createKeystoreOpener}).
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT`, `ERR_KEYSTORE_TOO_LARGE`, `ERR_KEYSTORE_TOO_COSTLY`,
 *   `ERR_KEYSTORE_PASSWORD`, `ERR_KEYSTORE_INTEGRITY`, `ERR_KEY_PASSWORD`,
 *   `ERR_ALIAS_REQUIRED`, `ERR_ALIAS_NOT_FOUND`, `ERR_UNSUPPORTED_KEY`, `ERR_KEY_CERT_MISMATCH`.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1
 */
export const openKeystore: OpenKeystore = opener.openKeystore;

/**
 * Lists every entry of a keystore (alias, kind, key type and size, certificate details).
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT`, `ERR_KEYSTORE_TOO_LARGE`, `ERR_KEYSTORE_TOO_COSTLY`,
 *   `ERR_KEYSTORE_PASSWORD`, `ERR_KEYSTORE_INTEGRITY`.
 */
export const listKeystore: ListKeystore = opener.listKeystore;

export { FAILED_OPEN_MEMORY_MS, FailedOpens } from './failed-opens.ts';
export { KEYSTORE_WORK_BUDGET } from './work-budget.ts';
export type {
  KeyMaterial,
  KeystoreEntry,
  KeystoreFormat,
  KeystoreListing,
  KeystoreType,
  OpenKeystoreOptions,
} from './types.ts';
