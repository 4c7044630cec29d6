import { randomBytes } from 'node:crypto';
import type { BrokerConfig } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { silentLogger, type Logger } from '../types.ts';

/** Fewest bytes of an HMAC key for consent `state` (the SHA-256 output size). */
export const STATE_KEY_MIN_BYTES = 32;

const HEX = /^(?:[0-9a-fA-F]{2}){32,}$/;
const BASE64 = /^[A-Za-z0-9+/_-]{43,}={0,2}$/;

/**
 * The HMAC key from the text of `consent.stateKey`: hex or base64 (standard or url-safe)
 * of at least 32 bytes, else the text's UTF-8 bytes when they are at least 32.
 *
 * @throws ConfigError `ERR_CONFIG` when the key is shorter than 32 bytes.
 */
export function decodeStateKey(text: string): Uint8Array {
  const value = text.trim();
  if (HEX.test(value)) return new Uint8Array(Buffer.from(value, 'hex'));
  if (BASE64.test(value)) {
    const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (bytes.byteLength >= STATE_KEY_MIN_BYTES) return new Uint8Array(bytes);
  }
  const utf8 = Buffer.from(value, 'utf8');
  if (utf8.byteLength >= STATE_KEY_MIN_BYTES) return new Uint8Array(utf8);
  throw new ConfigError(
    'ERR_CONFIG',
    `consent.stateKey must hold at least ${STATE_KEY_MIN_BYTES} random bytes (make one with \`openssl rand -base64 32\`)`,
  );
}

/** Options of {@link stateKeySource}. */
export interface StateKeySourceOptions {
  /**
   * With no `consent.stateKey` configured, use a random key made once per process. Only for
   * the local server, where one process both starts and completes the consent.
   */
  readonly ephemeral: boolean;
  readonly logger?: Logger;
}

/**
 * Where the consent flow gets its state key: `consent.stateKey` resolved (and cached by the
 * resolver), or a per-process random key when allowed.
 *
 * @throws ConfigError `ERR_CONFIG` (when called) if no key is configured and `ephemeral` is false,
 * or the key is too short; SecretError `ERR_SECRET_*` when the reference cannot be resolved.
 */
export function stateKeySource(
  config: Pick<BrokerConfig, 'consent'>,
  secrets: SecretResolver,
  options: StateKeySourceOptions,
): () => Promise<Uint8Array> {
  const reference = config.consent.stateKey;
  if (reference === undefined) {
    if (!options.ephemeral) {
      return () =>
        Promise.reject(
          new ConfigError(
            'ERR_CONFIG',
            'consent.stateKey is not set; put a random key in Secrets Manager and name it in consent.stateKey',
          ),
        );
    }
    let key: Uint8Array | undefined;
    return () => {
      if (key === undefined) {
        key = new Uint8Array(randomBytes(STATE_KEY_MIN_BYTES));
        (options.logger ?? silentLogger).info(
          'consent.stateKey is not set; consent links are signed with a key made for this process only',
        );
      }
      return Promise.resolve(key);
    };
  }
  return async () => decodeStateKey(await secrets.resolveText(reference));
}
