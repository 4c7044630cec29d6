/**
 * JCEKS, the JDK's JCE keystore (magic CECECECE): private-key entries protected with
 * PBEWithMD5AndTripleDES, trusted certificates, and secret keys sealed in serialized
 * `SealedObject`s (listed, never decrypted). Like the JDK, it also reads JKS files.
 */
import type { RawStore } from './types.ts';
import { parseJavaStore } from './java-store.ts';

/**
 * Parses a JCEKS keystore and verifies its integrity digest with the store password.
 * Private keys are decrypted on demand by `decryptKey(keyPassword)`, which throws
 * `ERR_KEY_PASSWORD` for a wrong key password. JCEKS key passwords are printable ASCII
 * (the JDK refuses others); the store password may be any text.
 *
 * @param bytes - the keystore file.
 * @param password - the store password; when absent the integrity digest is not checked
 *   and a warning says so.
 * @throws KeystoreError `ERR_KEYSTORE_FORMAT` when the bytes are not a JCEKS (or JKS)
 *   keystore or are truncated or malformed; `ERR_KEYSTORE_PASSWORD` when the password is
 *   wrong; `ERR_KEYSTORE_INTEGRITY` when the password opens a key but the digest does not
 *   match (the file was altered).
 * @see https://github.com/openjdk/jdk17u/blob/master/src/java.base/share/classes/com/sun/crypto/provider/JceKeyStore.java
 */
export function parseJceks(bytes: Uint8Array, password: string | undefined): RawStore {
  return parseJavaStore(bytes, password, 'jceks');
}
