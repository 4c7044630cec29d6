// The node-forge modules lib/keystore/legacy-ciphers.ts imports one by one (@types/node-forge
// describes only the package's main entry).
declare module 'node-forge/lib/util.js' {
  const util: { createBuffer(bytes: string): unknown };
  export default util;
}
declare module 'node-forge/lib/rc2.js' {
  const rc2: {
    createDecryptionCipher(
      key: string,
      bits: number,
    ): {
      start(iv: string): void;
      update(input: unknown): void;
      finish(pad: () => boolean): boolean;
      output: { getBytes(): string };
    };
  };
  export default rc2;
}
declare module 'node-forge/lib/des.js' {}
declare module 'node-forge/lib/cipher.js' {
  const cipher: {
    createDecipher(
      name: string,
      key: unknown,
    ): {
      start(options: { iv: string }): void;
      update(input: unknown): void;
      finish(pad: () => boolean): boolean;
      output: { getBytes(): string };
    };
  };
  export default cipher;
}
