import type { KmsApiFactory } from '../aws/kms.ts';
import type { KeyMaterialCache } from './key-material.ts';
import type { Profile } from '../config/types.ts';
import { ConfigError } from '../errors.ts';
import type { KeyMaterial } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { openKmsSigner, type KmsSigner } from './kms.ts';
import { isKmsReference, parseKmsReference } from './kms-reference.ts';
import { localSigner } from './local.ts';
import type { Signer } from './types.ts';

interface KmsEntry {
  readonly version: string;
  readonly signer: Promise<KmsSigner>;
}

/** What {@link SignerCache} needs. */
export interface SignerCacheOptions {
  /** Key material opened in memory, for every profile whose `certStore` is not `kms:`. */
  readonly keys: KeyMaterialCache;
  readonly secrets: SecretResolver;
  /** KMS per region; default: SDK clients with the ambient configuration. */
  readonly kms?: KmsApiFactory | undefined;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/**
 * One {@link Signer} per profile: over the opened key material, or over the profile's KMS
 * key, whose `GetPublicKey` is made once and kept per version of its `certificate:`.
 * Concurrent misses share one opening; a failed opening is not kept.
 */
export class SignerCache {
  readonly #options: SignerCacheOptions;
  readonly #local = new WeakMap<KeyMaterial, Signer>();
  readonly #kms = new Map<string, KmsEntry>();
  #factory: KmsApiFactory | undefined;

  constructor(options: SignerCacheOptions) {
    this.#options = options;
    this.#factory = options.kms;
  }

  /**
   * The profile's signer.
   *
   * @throws the errors of {@link KeyMaterialCache.get}, of {@link openKmsSigner}, and
   *   ConfigError `ERR_CONFIG` for a malformed `kms:` reference.
   */
  async get(profile: Profile): Promise<Signer> {
    if (!isKmsReference(profile.certStore)) return this.#localFor(await this.#options.keys.get(profile));
    const certificate = profile.certificate
      ? await this.#options.secrets.resolveBytes(profile.certificate)
      : undefined;
    const version = certificate?.version ?? '';
    const held = this.#kms.get(profile.name);
    if (held && held.version === version) return held.signer;
    const signer = this.#openKms(profile, certificate?.bytes);
    const entry = { version, signer };
    this.#kms.set(profile.name, entry);
    signer.catch(() => {
      if (this.#kms.get(profile.name) === entry) this.#kms.delete(profile.name);
    });
    return signer;
  }

  /**
   * The profile's signer opened afresh, after the provider refused its key: the key
   * material read again ({@link KeyMaterialCache.reopen}), or the KMS key described again
   * with its certificate read again. The same object as before when nothing changed.
   */
  async reopen(profile: Profile): Promise<Signer> {
    if (!isKmsReference(profile.certStore)) return this.#localFor(await this.#options.keys.reopen(profile));
    // A KMS key's material never changes under its id: only a new certificate version is new.
    if (profile.certificate) this.#options.secrets.invalidate(profile.certificate);
    return this.get(profile);
  }

  /** A signer over the AWSPENDING version of the key material; undefined for KMS keys and other references. */
  async pending(profile: Profile): Promise<Signer | undefined> {
    if (isKmsReference(profile.certStore)) return undefined;
    const material = await this.#options.keys.pending(profile);
    return material === undefined ? undefined : this.#localFor(material);
  }

  /** One signer per opened key material, so an unchanged key gives the same signer. */
  #localFor(material: KeyMaterial): Signer {
    let signer = this.#local.get(material);
    if (signer === undefined) {
      signer = localSigner(material);
      this.#local.set(material, signer);
    }
    return signer;
  }

  async #openKms(profile: Profile, certificate: Uint8Array | undefined): Promise<KmsSigner> {
    const reference = parseKmsReference(profile.certStore);
    if (typeof reference === 'string')
      throw new ConfigError('ERR_CONFIG', `profile "${profile.name}": ${reference}`);
    this.#factory ??= (await import('../aws/kms.ts')).kmsApiFactory();
    return openKmsSigner({
      api: await this.#factory(reference.region),
      keyId: reference.keyId,
      certificate,
      algorithm: profile.assertion.algorithm,
      ...(this.#options.sleep && { sleep: this.#options.sleep }),
      ...(this.#options.random && { random: this.#options.random }),
    });
  }
}
