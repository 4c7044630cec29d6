/**
 * JKS, the JDK's original proprietary keystore (magic FEEDFEED, versions 1 and 2):
 * private-key entries protected by Sun's SHA-1 key protector, and trusted certificates.
 */
import type { RawStore } from './types.ts';
import { parseJavaStore } from './java-store.ts';

/**
 * Parses a JKS keystore and verifies its integrity digest with the store password.
 * Entries' private keys are decrypted on demand by `decryptKey(keyPassword)`, which throws
 * `ERR_KEY_PASSWORD` for a wrong key password.
 *
 * @param bytes - the keystore file.
 * @param password - the store password; when absent the integrity digest is not checked
 *   (as `keytool -list` without a password) and a warning says so.
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when the bytes are not a JKS keystore or are
 *   truncated or malformed; `ERR_KEYSTORE_PASSWORD` when the password is wrong;
 *   `ERR_KEYSTORE_INTEGRITY` when the password opens a key but the digest does not match
 *   (the file was altered).
 * @see https://github.com/openjdk/jdk17u/blob/master/src/java.base/share/classes/sun/security/provider/JavaKeyStore.java
 */
export function parseJks(bytes: Uint8Array, password: string | undefined): RawStore {
  return parseJavaStore(bytes, password, 'jks');
}
