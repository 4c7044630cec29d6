/**
 * Remembers keystore opens that failed, so a wrong password or a damaged file asked for
 * again within {@link FAILED_OPEN_MEMORY_MS} gets the same error without repeating the key
 * derivation. Keyed by a SHA-256 over the keystore bytes and every option that can change
 * the outcome, so a new secret version (other bytes) or another password is a new open.
 * Holds no secret: only digests and the errors, whose messages never carry one.
 */
import { createHash } from 'node:crypto';
import { KeystoreError } from '../errors.ts';
import type { OpenKeystoreOptions } from './types.ts';

/** How long a failed open is remembered. */
export const FAILED_OPEN_MEMORY_MS = 30_000;

/** Failed opens kept at most; the oldest is forgotten first. */
const MAX_REMEMBERED = 256;

/** What {@link FailedOpens} needs from the world. */
export interface FailedOpensOptions {
  /** Milliseconds since the epoch; default `Date.now`. */
  readonly now?: () => number;
  readonly memoryMs?: number;
}

/** A memory of failed opens, per keystore content and options. */
export class FailedOpens {
  readonly #failures = new Map<string, { error: KeystoreError; until: number }>();
  readonly #now: () => number;
  readonly #memoryMs: number;

  constructor(options: FailedOpensOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#memoryMs = options.memoryMs ?? FAILED_OPEN_MEMORY_MS;
  }

  /** The key an open is remembered under. */
  key(kind: 'open' | 'list', bytes: Uint8Array, options: OpenKeystoreOptions): string {
    const hash = createHash('sha256').update(kind).update(bytes);
    const parts = [
      options.type,
      options.password,
      options.keyPassword,
      options.alias,
      options.algorithm,
      options.certificate === undefined ? undefined : Buffer.from(options.certificate).toString('base64'),
    ];
    // Length-prefixed, so no two option sets share an encoding.
    for (const part of parts) {
      const text = part === undefined ? '\u0000' : `\u0001${part}`;
      hash.update(`${Buffer.byteLength(text)}:`).update(text);
    }
    return hash.digest('hex');
  }

  /** The remembered error for `key`, when it failed less than the memory time ago. */
  recall(key: string): KeystoreError | undefined {
    const failure = this.#failures.get(key);
    if (!failure) return undefined;
    if (this.#now() < failure.until) return failure.error;
    this.#failures.delete(key);
    return undefined;
  }

  /** Remembers a keystore error (other errors are not about the keystore and are not kept). */
  remember(key: string, error: unknown): void {
    if (!(error instanceof KeystoreError)) return;
    this.#failures.delete(key);
    this.#failures.set(key, { error, until: this.#now() + this.#memoryMs });
    if (this.#failures.size > MAX_REMEMBERED) this.#failures.delete(this.#failures.keys().next().value!);
  }
}
