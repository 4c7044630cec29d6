import { SecretError } from '../errors.ts';
import type { SecretValue } from './types.ts';
import { describeReference } from './reference.ts';

/** What a source fetched, before a JSON field is picked. */
export interface RawSecret {
  /** Binary value (SecretBinary, file bytes). */
  readonly binary: Uint8Array | undefined;
  /** Text value (SecretString, env var); for files, set when the bytes are valid UTF-8. */
  readonly text: string | undefined;
  readonly version: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8 strictly; undefined when the bytes are not text. */
export function utf8OrUndefined(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Turns text into key-material bytes: PEM text stays text (its UTF-8 bytes), base64 text
 * (whitespace allowed, as `openssl base64` wraps it) is decoded, anything else is UTF-8.
 */
function textToBytes(text: string): Uint8Array {
  if (text.includes('-----BEGIN ')) return Buffer.from(text, 'utf8');
  const compact = text.replace(/\s+/g, '');
  if (compact.length >= 16 && compact.length % 4 === 0 && BASE64.test(compact)) {
    return new Uint8Array(Buffer.from(compact, 'base64'));
  }
  return Buffer.from(text, 'utf8');
}

/**
 * Picks `field` from a secret holding a JSON object, or returns the whole value.
 *
 * @throws SecretError `ERR_SECRET_FIELD` when the value is not a JSON object or lacks the field.
 */
export function pickValue(reference: string, raw: RawSecret, field: string | undefined): SecretValue {
  if (field === undefined) {
    if (raw.binary !== undefined) {
      return { bytes: raw.binary, text: raw.text, version: raw.version };
    }
    const text = raw.text ?? '';
    return { bytes: textToBytes(text), text, version: raw.version };
  }
  const where = `secret reference "${describeReference(reference)}"`;
  const text = raw.text ?? (raw.binary ? utf8OrUndefined(raw.binary) : undefined);
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretError(
      'ERR_SECRET_FIELD',
      `${where}: the secret is not a JSON object, so it has no field "${field}"; drop "#${field}" or store JSON`,
    );
  }
  const value = (parsed as Record<string, unknown>)[field];
  if (value === undefined) {
    const known = Object.keys(parsed).slice(0, 10).join(', ');
    throw new SecretError(
      'ERR_SECRET_FIELD',
      `${where}: no field "${field}" in the secret's JSON (fields: ${known || 'none'})`,
    );
  }
  if (typeof value !== 'string') {
    throw new SecretError(
      'ERR_SECRET_FIELD',
      `${where}: field "${field}" holds a ${Array.isArray(value) ? 'array' : typeof value}, expected a string (text, PEM or base64)`,
    );
  }
  return { bytes: textToBytes(value), text: value, version: raw.version };
}
