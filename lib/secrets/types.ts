/** A resolved secret. `bytes` is the raw value; `text` is set when the value is text. */
export interface SecretValue {
  /** The value as bytes (SecretBinary, decoded base64 text, or UTF-8 of text). */
  readonly bytes: Uint8Array;
  /** The value as text, when it was text (SecretString, JSON field, env var, text file). */
  readonly text: string | undefined;
  /** A version marker so callers notice rotation (Secrets Manager VersionId, file mtime…). */
  readonly version: string;
}

/**
 * Resolves secret references: `secretsmanager:<name-or-arn>[#<json-field>]`
 * (with optional `?stage=` / `?version=`), `file:<path>`, `env:<VAR>`.
 * Errors: `ERR_SECRET_REFERENCE`, `ERR_SECRET_NOT_FOUND`, `ERR_SECRET_ACCESS_DENIED`,
 * `ERR_SECRET_UNAVAILABLE`, `ERR_SECRET_FIELD`; messages name the reference, never the value.
 */
export interface SecretResolver {
  /** The value as bytes (keystores). Base64 text is decoded; PEM text is kept as its UTF-8 bytes. */
  resolveBytes(reference: string): Promise<SecretValue>;
  /** The value as text (passwords, client secrets, HMAC keys). */
  resolveText(reference: string): Promise<string>;
  /**
   * The value as text, fetched again whatever the cache holds (a password after the
   * keystore it opens has rotated); the cache then holds the new value. Concurrent calls
   * share one fetch.
   */
  resolveTextFresh(reference: string): Promise<string>;
  /** Drops a cached value so the next resolve fetches it again (rotation, `invalid_client`). */
  invalidate(reference: string): void;
}
