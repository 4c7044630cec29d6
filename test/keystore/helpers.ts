/** Helpers shared by the keystore tests: fixture bytes, captured errors, key types. */
import { execFileSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { KeystoreError } from '../../lib/errors.ts';
import type { BrokerError } from '../../lib/errors.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

export const DIR = KEYSTORE_FIXTURES;

/** A fixture's bytes. */
export function fixture(name: string): Buffer {
  return readFileSync(join(DIR, name));
}

/**
 * The error a promise rejects with (or a function throws); fails when there is none.
 * The caller asserts its code and message.
 */
export async function rejection(promise: Promise<unknown> | (() => unknown)): Promise<BrokerError> {
  let thrown: unknown;
  let threw = false;
  try {
    if (typeof promise === 'function') promise();
    else await promise;
  } catch (err) {
    thrown = err;
    threw = true;
  }
  if (!threw) throw new Error('expected a rejection');
  return thrown as BrokerError;
}

/** Runs `fn`, expects it to throw a KeystoreError, and returns it. */
export function keystoreErrorOf(fn: () => unknown): KeystoreError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(KeystoreError);
  return thrown as KeystoreError;
}

/** Runs `fn`; if it throws, the error must be a KeystoreError (never a TypeError, RangeError…). */
export function throwsOnlyKeystoreErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof KeystoreError)) throw err;
  }
}

/** `RSA-2048`, `EC-P-256`, `Ed25519`, as the manifests write it. */
export function keyTypeOf(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA-${d.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    return `EC-${curves[d.namedCurve ?? ''] ?? d.namedCurve}`;
  }
  return key.asymmetricKeyType === 'ed25519' ? 'Ed25519' : String(key.asymmetricKeyType);
}

/** Matches `secret` as a whole token, so a password such as `store pass` may sit inside "store password". */
export function standalone(secret: string): RegExp {
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u');
}

const x5tS256Cache = new Map<string, string>();

/** x5t#S256 as openssl computes it for a certificate file : the SHA-256 fingerprint, hex to base64url. */
export function opensslX5tS256(certFile: string): string {
  let value = x5tS256Cache.get(certFile);
  if (value === undefined) {
    const out = execFileSync(
      'openssl',
      ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(DIR, certFile)],
      {
        encoding: 'utf8',
      },
    );
    value = Buffer.from(out.trim().split('=')[1]!.replaceAll(':', ''), 'hex').toString('base64url');
    x5tS256Cache.set(certFile, value);
  }
  return value;
}
