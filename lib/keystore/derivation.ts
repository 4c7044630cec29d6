/**
 * The key derivations keystores use, as data: what a parser asks for, what the work budget
 * charges, what a worker thread computes. {@link computeDerivation} runs one synchronously.
 */
import { hash, pbkdf2Sync } from 'node:crypto';
import { iteratedMd5 } from './java-md5.ts';
import { type Pkcs12Digest, pkcs12Kdf } from './pkcs12-kdf.ts';

/** One key derivation. */
export type Derivation =
  /** PBKDF2 (RFC 8018 §5.2): PBES2, PBMAC1. */
  | {
      readonly kind: 'pbkdf2';
      readonly password: Uint8Array;
      readonly salt: Uint8Array;
      readonly iterations: number;
      readonly length: number;
      readonly digest: string;
    }
  /** The PKCS#12 KDF (RFC 7292 Appendix B): PKCS#12 MAC and PBE, BKS. */
  | {
      readonly kind: 'pkcs12';
      readonly digest: Pkcs12Digest;
      readonly password: Uint8Array;
      readonly salt: Uint8Array;
      readonly id: number;
      readonly iterations: number;
      readonly length: number;
    }
  /** `x = MD5(x || suffix)` rounds: the JCEKS key protector. */
  | {
      readonly kind: 'md5-chain';
      readonly first: Uint8Array;
      readonly suffix: Uint8Array;
      readonly iterations: number;
    }
  /** `H^c(input)`: PBKDF1 (RFC 8018 §5.1), PBES1. */
  | {
      readonly kind: 'hash-chain';
      readonly digest: 'md5' | 'sha1';
      readonly input: Uint8Array;
      readonly iterations: number;
    };

const BLOCK_BYTES: Readonly<Record<string, number>> = {
  md5: 16,
  sha1: 20,
  sha224: 28,
  sha256: 32,
  sha384: 48,
  sha512: 64,
  'sha512-224': 28,
  'sha512-256': 32,
};

/** Iterations a derivation runs (a compression per iteration and output block). */
export function derivationCost(derivation: Derivation): number {
  switch (derivation.kind) {
    case 'pbkdf2':
    case 'pkcs12':
      return derivation.iterations * Math.ceil(derivation.length / (BLOCK_BYTES[derivation.digest] ?? 32));
    case 'md5-chain':
    case 'hash-chain':
      return derivation.iterations;
  }
}

/** Runs a derivation on this thread. */
export function computeDerivation(derivation: Derivation): Buffer {
  switch (derivation.kind) {
    case 'pbkdf2':
      return pbkdf2Sync(
        derivation.password,
        derivation.salt,
        derivation.iterations,
        derivation.length,
        derivation.digest,
      );
    case 'pkcs12':
      return pkcs12Kdf(
        derivation.digest,
        derivation.password,
        derivation.salt,
        derivation.id,
        derivation.iterations,
        derivation.length,
      );
    case 'md5-chain':
      return Buffer.from(iteratedMd5(derivation.first, derivation.suffix, derivation.iterations));
    case 'hash-chain': {
      let out = hash(derivation.digest, derivation.input, 'buffer');
      for (let i = 1; i < derivation.iterations; i++) out = hash(derivation.digest, out, 'buffer');
      return out;
    }
  }
}
