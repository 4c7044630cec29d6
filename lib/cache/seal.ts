/**
 * Sealing of cached tokens at rest: AES-256-GCM with a random 96-bit IV and the item's
 * key as additional authenticated data, so a sealed value copied to another item, or
 * read with another key, does not open.
 *
 * Layout: `version (1 byte) || iv (12 bytes) || ciphertext || tag (16 bytes)`.
 *
 * @see https://nvlpubs.nist.gov/nistpubs/Legacy/SP/nistspecialpublication800-38d.pdf (GCM)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Format version written as the first byte; bump when the layout or algorithm changes. */
export const SEAL_VERSION = 1;

/** Length in bytes of the AES-256 key. */
export const SEAL_KEY_LENGTH = 32;

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const HEADER_LENGTH = 1 + IV_LENGTH;

/** Why a sealed value did not open. None of them says anything about the plaintext. */
export type UnsealFailure = 'format' | 'version' | 'authentication';

/** The outcome of {@link unseal}. */
export type UnsealResult =
  | { readonly ok: true; readonly plaintext: Uint8Array }
  | { readonly ok: false; readonly reason: UnsealFailure };

function checkKey(key: Uint8Array): void {
  if (key.byteLength !== SEAL_KEY_LENGTH) {
    throw new TypeError(`seal key must be ${SEAL_KEY_LENGTH} bytes, got ${key.byteLength}`);
  }
}

/**
 * Seals `plaintext` under `key`, binding it to `associatedData` (the item key).
 *
 * @throws TypeError when `key` is not 32 bytes (a programming error: keys are checked at configuration).
 */
export function seal(key: Uint8Array, associatedData: string, plaintext: Uint8Array): Uint8Array {
  checkKey(key);
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(SEAL_VERSION), iv, body, cipher.getAuthTag()]);
}

/**
 * Opens a value made by {@link seal}. Never throws for bad input: a wrong key, another
 * item's value, a truncated or tampered value all come back as `{ ok: false }`.
 *
 * @throws TypeError when `key` is not 32 bytes.
 */
export function unseal(key: Uint8Array, associatedData: string, sealed: Uint8Array): UnsealResult {
  checkKey(key);
  if (sealed.byteLength < HEADER_LENGTH + TAG_LENGTH) return { ok: false, reason: 'format' };
  if (sealed[0] !== SEAL_VERSION) return { ok: false, reason: 'version' };
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const iv = bytes.subarray(1, HEADER_LENGTH);
  const body = bytes.subarray(HEADER_LENGTH, bytes.byteLength - TAG_LENGTH);
  const tag = bytes.subarray(bytes.byteLength - TAG_LENGTH);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_LENGTH });
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(body), decipher.final()]);
    return { ok: true, plaintext: new Uint8Array(plaintext) };
  } catch {
    return { ok: false, reason: 'authentication' };
  }
}
