import type { Profile } from '../config/types.ts';
import type { KeyMaterial, OpenKeystore } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import type { Logger } from '../types.ts';
import { silentLogger } from '../types.ts';

interface Entry {
  readonly version: string;
  readonly material: Promise<KeyMaterial>;
}

/** Options of {@link KeyMaterialCache}. */
export interface KeyMaterialCacheOptions {
  readonly secrets: SecretResolver;
  /** Opens key material; loaded on first use. */
  readonly openKeystore: () => Promise<OpenKeystore>;
  readonly logger?: Logger;
}

/**
 * Opened key material per profile, kept per version of the keystore secret
 * (`SecretValue.version`): after a rotation the next miss opens the new version.
 * Concurrent misses share one opening; a failed opening is not kept.
 */
export class KeyMaterialCache {
  readonly #entries = new Map<string, Entry>();
  readonly #secrets: SecretResolver;
  readonly #open: () => Promise<OpenKeystore>;
  readonly #logger: Logger;

  constructor(options: KeyMaterialCacheOptions) {
    this.#secrets = options.secrets;
    this.#open = options.openKeystore;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * The profile's key material, opened from the current version of its keystore secret.
   *
   * @throws SecretError `ERR_SECRET_*`; KeystoreError `ERR_KEYSTORE_*`, `ERR_KEY_*`, `ERR_ALIAS_*`, `ERR_UNSUPPORTED_KEY`.
   */
  async get(profile: Profile): Promise<KeyMaterial> {
    const store = await this.#secrets.resolveBytes(profile.certStore);
    const held = this.#entries.get(profile.name);
    if (held && held.version === store.version) return held.material;
    const material = this.#openFor(profile, store.bytes);
    const entry = { version: store.version, material };
    this.#entries.set(profile.name, entry);
    material.catch(() => {
      if (this.#entries.get(profile.name) === entry) this.#entries.delete(profile.name);
    });
    return material;
  }

  /**
   * Forgets the profile's key material and makes the resolver fetch its secrets again
   * (after an `invalid_client` answer, which often means a rotated key).
   */
  drop(profile: Profile): void {
    this.#entries.delete(profile.name);
    for (const reference of [
      profile.certStore,
      profile.certPassword,
      profile.keyPassword,
      profile.certificate,
    ])
      if (reference) this.#secrets.invalidate(reference);
  }

  async #openFor(profile: Profile, bytes: Uint8Array): Promise<KeyMaterial> {
    const text = (reference: string | undefined): Promise<string | undefined> =>
      reference ? this.#secrets.resolveText(reference) : Promise.resolve(undefined);
    const [password, keyPassword, certificate, open] = await Promise.all([
      text(profile.certPassword),
      text(profile.keyPassword),
      profile.certificate ? this.#secrets.resolveBytes(profile.certificate) : undefined,
      this.#open(),
    ]);
    const material = await open(bytes, {
      type: profile.certStoreType,
      ...(password !== undefined && { password }),
      ...(keyPassword !== undefined && { keyPassword }),
      ...(profile.certAlias !== undefined && { alias: profile.certAlias }),
      algorithm: profile.assertion.algorithm,
      ...(certificate !== undefined && { certificate: certificate.bytes }),
    });
    for (const warning of material.warnings)
      this.#logger.warn('key material warning', { profile: profile.name, warning });
    return material;
  }
}
