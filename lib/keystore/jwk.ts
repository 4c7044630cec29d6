import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import { parsePem } from './pem.ts';
import { printable } from './text.ts';
import { JWS_ALGORITHMS, type JwsAlgorithm, type RawEntry, type RawStore } from './types.ts';

const JWS_ALGORITHM_SET: ReadonlySet<string> = new Set(JWS_ALGORITHMS);

type Json = Record<string, unknown>;

/** Parses JSON text into an object, or says it is not a JSON object. */
export function parseJsonObject(bytes: Uint8Array, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(
      Buffer.from(bytes)
        .toString('utf8')
        .replace(/^\uFEFF/, ''),
    );
  } catch {
    throw new KeystoreError('ERR_KEYSTORE_FORMAT', `${what} is not valid JSON (damaged or truncated)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new KeystoreError('ERR_KEYSTORE_FORMAT', `${what} is not a JSON object`);
  return value as Json;
}

/**
 * Parses a private JWK (RFC 7517 §4) or a JWK Set (§5). Each private key is an entry named
 * by its `kid` (else `key`, or `key-1`, `key-2`… in a set); `x5c` gives the certificate
 * chain and `alg` the preferred JWS algorithm. Symmetric (`oct`) keys are secret-key
 * entries. Public keys in a set are skipped with a warning.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` for malformed JSON or members;
 *   `ERR_UNSUPPORTED_KEY` when there is no private part (`d`).
 * @see https://www.rfc-editor.org/rfc/rfc7517
 * @see https://www.rfc-editor.org/rfc/rfc8037#section-2
 */
export function parseJwk(bytes: Uint8Array): RawStore {
  const root = parseJsonObject(bytes, 'the JWK');
  const isSet = Array.isArray(root['keys']);
  const members: unknown[] = isSet ? (root['keys'] as unknown[]) : [root];
  const warnings: string[] = [];
  const entries: RawEntry[] = [];
  members.forEach((member, index) => {
    if (typeof member !== 'object' || member === null || typeof (member as Json)['kty'] !== 'string')
      throw new KeystoreError(
        'ERR_KEYSTORE_FORMAT',
        `JWK ${index + 1} has no 'kty'; it is not a JSON Web Key`,
      );
    const jwk = member as Json;
    const kid = typeof jwk['kid'] === 'string' && jwk['kid'] !== '' ? jwk['kid'] : undefined;
    const fallback = members.length === 1 ? 'key' : `key-${index + 1}`;
    const alias = kid ?? fallback;
    if (jwk['kty'] === 'oct') {
      entries.push({
        alias,
        kind: 'secret-key',
        certificates: [],
        secretAlgorithm: stringOr(jwk['alg'], 'oct'),
      });
      return;
    }
    if (jwk['d'] === undefined) {
      if (!isSet)
        throw new KeystoreError(
          'ERR_UNSUPPORTED_KEY',
          "JWK has no private part ('d'); give the private JWK, not the public one",
        );
      warnings.push(`JWK '${printable(alias)}' has no private part ('d') and was skipped`);
      return;
    }
    const alg = typeof jwk['alg'] === 'string' && JWS_ALGORITHM_SET.has(jwk['alg']) ? jwk['alg'] : undefined;
    entries.push({
      alias,
      kind: 'private-key',
      certificates: x5c(jwk['x5c'], alias),
      decryptKey: () => importJwk(jwk, alias),
      ...(kid === undefined ? {} : { kid }),
      ...(alg === undefined ? {} : { algorithm: alg as JwsAlgorithm }),
    });
  });
  if (isSet && !entries.some((entry) => entry.kind === 'private-key'))
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      "the JWK Set holds no private key (no member has 'd'); give the private JWK Set",
    );
  return { format: 'jwk', entries, warnings };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}

function importJwk(jwk: Json, alias: string) {
  try {
    return createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (cause) {
    throw new KeystoreError(
      'ERR_UNSUPPORTED_KEY',
      `JWK '${printable(alias)}' could not be read as a private key (kty ${printable(String(jwk['kty']))}, ` +
        `crv ${printable(String(jwk['crv'] ?? '-'))}); use RSA, EC P-256/P-384/P-521 or OKP Ed25519`,
      { cause },
    );
  }
}

/** RFC 7517 §4.7: base64 (not base64url) DER certificates, leaf first. */
function x5c(value: unknown, alias: string): Uint8Array[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    !value.every((item) => typeof item === 'string' && /^[A-Za-z0-9+/=\s]+$/.test(item))
  )
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      `JWK '${printable(alias)}' has a malformed 'x5c'; it must be an array of base64 DER certificates`,
    );
  return (value as string[]).map((item) => Buffer.from(item, 'base64'));
}

/**
 * Parses a Google service-account key file: `private_key` (PKCS#8 PEM), `client_email`,
 * `private_key_id`. The entry's alias and `kid` are the `private_key_id`.
 *
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when `private_key` is missing or damaged.
 * @see https://google.aip.dev/auth/4112
 */
export function parseGoogleJson(bytes: Uint8Array): RawStore {
  const root = parseJsonObject(bytes, 'the service-account JSON');
  const pem = root['private_key'];
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN'))
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      "the service-account JSON has no 'private_key' PEM; download a new key file for the service account",
    );
  const inner = parsePem(Buffer.from(pem, 'utf8'));
  const key = inner.entries.find((entry) => entry.kind === 'private-key');
  if (!key?.decryptKey)
    throw new KeystoreError(
      'ERR_KEYSTORE_FORMAT',
      "the service-account JSON's 'private_key' holds no private key",
    );
  const kid =
    typeof root['private_key_id'] === 'string' && root['private_key_id'] !== ''
      ? root['private_key_id']
      : undefined;
  const clientEmail = typeof root['client_email'] === 'string' ? root['client_email'] : undefined;
  const entry: RawEntry = {
    alias: kid ?? 'key',
    kind: 'private-key',
    certificates: key.certificates,
    decryptKey: key.decryptKey,
    ...(kid === undefined ? {} : { kid }),
    ...(clientEmail === undefined ? {} : { clientEmail }),
  };
  const warnings = clientEmail === undefined ? ["the service-account JSON has no 'client_email'"] : [];
  return { format: 'google-json', entries: [entry], warnings };
}
