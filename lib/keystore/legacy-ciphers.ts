/**
 * The legacy block ciphers OpenSSL 3's default provider no longer has (RC2, single DES),
 * from node-forge. Imported statically, module by module, so a bundler includes them: a
 * `require()` built at run time finds no node_modules in a deployed bundle.
 */
import forgeCipher from 'node-forge/lib/cipher.js';
import 'node-forge/lib/des.js';
import forgeRc2 from 'node-forge/lib/rc2.js';
import forgeUtil from 'node-forge/lib/util.js';

/** The password did not decrypt the data (bad padding); the caller decides what that means. */
export class DecryptFailure extends Error {
  override readonly name = 'DecryptFailure';
}

const binary = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

/** Strips PKCS#5 padding, checking every pad byte. */
export function unpad(data: Buffer, block: number): Buffer {
  const count = data[data.length - 1] ?? 0;
  if (count < 1 || count > block || count > data.length) throw new DecryptFailure('bad padding');
  for (let i = data.length - count; i < data.length; i++)
    if (data[i] !== count) throw new DecryptFailure('bad padding');
  return data.subarray(0, data.length - count);
}

/** RC2-CBC decryption with the key's own length as the effective key bits. */
export function rc2(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const cipher = forgeRc2.createDecryptionCipher(binary(key), key.length * 8);
  cipher.start(binary(iv));
  cipher.update(forgeUtil.createBuffer(binary(data)));
  if (data.length % 8 !== 0 || !cipher.finish(() => true)) throw new DecryptFailure('bad length');
  return unpad(Buffer.from(cipher.output.getBytes(), 'latin1'), 8);
}

/** DES-CBC decryption. */
export function desCbc(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  if (data.length === 0 || data.length % 8 !== 0) throw new DecryptFailure('bad length');
  const decipher = forgeCipher.createDecipher('DES-CBC', forgeUtil.createBuffer(binary(key)));
  decipher.start({ iv: binary(iv) });
  decipher.update(forgeUtil.createBuffer(binary(data)));
  decipher.finish(() => true);
  return unpad(Buffer.from(decipher.output.getBytes(), 'latin1'), 8);
}
