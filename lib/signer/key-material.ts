import type { Profile } from '../config/types.ts';
import { isBrokerError } from '../errors.ts';
import type { KeyMaterial, OpenKeystore } from '../keystore/types.ts';
import { describeReference, parseReference } from '../secrets/reference.ts';
import type { SecretResolver, SecretValue } from '../secrets/types.ts';
import type { Logger } from '../types.ts';
import { silentLogger } from '../types.ts';

/** Key material that opened, and the keystore secret version it came from. */
interface Held {
  readonly version: string;
  readonly material: KeyMaterial;
}

/** An opening of one version in flight (concurrent misses share it). */
interface Opening {
  readonly version: string;
  readonly material: Promise<KeyMaterial>;
}

/** Errors that a password fetched again may cure (the password secret rotated after the keystore). */
const PASSWORD_CODES = new Set(['ERR_KEYSTORE_PASSWORD', 'ERR_KEY_PASSWORD']);

/** Options of {@link KeyMaterialCache}. */
export interface KeyMaterialCacheOptions {
  readonly secrets: SecretResolver;
  /** Opens key material; loaded on first use. */
  readonly openKeystore: () => Promise<OpenKeystore>;
  readonly logger?: Logger;
}

/**
 * `reference` with `?stage=AWSPENDING` for a Secrets Manager reference that names no stage
 * or version; undefined for other references (they have no pending version).
 */
export function pendingReference(reference: string): string | undefined {
  const parsed = parseReference(reference);
  if (parsed.scheme !== 'secretsmanager' || parsed.stage !== undefined || parsed.version !== undefined)
    return undefined;
  return `${reference}?stage=AWSPENDING`;
}

function codeOf(err: unknown): string {
  return isBrokerError(err) ? err.code : 'unexpected';
}

/**
 * Opened key material per profile, kept per version of the keystore secret
 * (`SecretValue.version`). Rotation never takes the key away: a new version replaces the
 * key in use only once it has opened; until then the old key keeps signing, and the
 * failure is logged (code, reference, version id) and the opening tried again on the next
 * miss. A wrong password is fetched again once, past the secrets cache, before an opening
 * counts as failed. Concurrent misses share one opening.
 */
export class KeyMaterialCache {
  readonly #held = new Map<string, Held>();
  readonly #opening = new Map<string, Opening>();
  readonly #secrets: SecretResolver;
  readonly #open: () => Promise<OpenKeystore>;
  readonly #logger: Logger;

  constructor(options: KeyMaterialCacheOptions) {
    this.#secrets = options.secrets;
    this.#open = options.openKeystore;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * The profile's key material: the current version of its keystore secret once it opens,
   * else the last version that opened.
   *
   * @throws SecretError `ERR_SECRET_*`; KeystoreError `ERR_KEYSTORE_*`, `ERR_KEY_*`, `ERR_ALIAS_*`,
   *   `ERR_UNSUPPORTED_KEY` when no version has opened yet.
   */
  async get(profile: Profile): Promise<KeyMaterial> {
    const store = await this.#secrets.resolveBytes(profile.certStore);
    const held = this.#held.get(profile.name);
    if (held && held.version === store.version) return held.material;
    const opening = this.#openingOf(profile, store);
    if (!held) return opening.material;
    try {
      return await opening.material;
    } catch (err) {
      this.#logger.error(
        'a new version of the key material does not open; the previous version keeps signing',
        {
          profile: profile.name,
          code: codeOf(err),
          reference: describeReference(profile.certStore),
          version: store.version,
          inUse: held.version,
        },
      );
      return held.material;
    }
  }

  /**
   * After the provider refused the key: makes the resolver fetch the profile's secrets
   * again and answers the key material that results (a new version when one opens; the
   * same object when nothing changed).
   *
   * @throws as {@link get}.
   */
  reopen(profile: Profile): Promise<KeyMaterial> {
    for (const reference of [
      profile.certStore,
      profile.certPassword,
      profile.keyPassword,
      profile.certificate,
    ])
      if (reference) this.#secrets.invalidate(reference);
    return this.get(profile);
  }

  /**
   * The key material of the AWSPENDING version of a `secretsmanager:` keystore (its
   * passwords' AWSPENDING versions where they exist), not kept; undefined when the
   * keystore reference has no pending form.
   *
   * @throws as {@link get}.
   */
  async pending(profile: Profile): Promise<KeyMaterial | undefined> {
    const reference = pendingReference(profile.certStore);
    if (reference === undefined) return undefined;
    const store = await this.#secrets.resolveBytes(reference);
    const pendingOr = async (ref: string | undefined): Promise<string | undefined> => {
      if (ref === undefined) return undefined;
      const pending = pendingReference(ref);
      if (pending === undefined) return ref;
      return this.#secrets.resolveText(pending).then(
        () => pending,
        () => ref,
      );
    };
    const passwords = {
      certPassword: await pendingOr(profile.certPassword),
      keyPassword: await pendingOr(profile.keyPassword),
    };
    return this.#openBytes({ ...profile, ...passwords }, store.bytes, false);
  }

  /** The opening of `store`'s version, started once; it becomes the key in use when it succeeds. */
  #openingOf(profile: Profile, store: SecretValue): Opening {
    const current = this.#opening.get(profile.name);
    if (current && current.version === store.version) return current;
    const opening: Opening = {
      version: store.version,
      material: this.#openBytes(profile, store.bytes, true),
    };
    this.#opening.set(profile.name, opening);
    opening.material.then(
      (material) => {
        if (this.#opening.get(profile.name) !== opening) return;
        this.#opening.delete(profile.name);
        const before = this.#held.get(profile.name);
        this.#held.set(profile.name, { version: store.version, material });
        if (before)
          this.#logger.info('key material rotated: the new version is in use', {
            profile: profile.name,
            reference: describeReference(profile.certStore),
            version: store.version,
          });
      },
      () => {
        if (this.#opening.get(profile.name) === opening) this.#opening.delete(profile.name);
      },
    );
    return opening;
  }

  /** Opens `bytes`; on a password error, once more with the passwords fetched past the cache. */
  async #openBytes(profile: Profile, bytes: Uint8Array, refetch: boolean): Promise<KeyMaterial> {
    try {
      return await this.#openWith(profile, bytes, (reference) => this.#secrets.resolveText(reference));
    } catch (err) {
      if (!refetch || !isBrokerError(err) || !PASSWORD_CODES.has(err.code)) throw err;
      if (profile.certPassword === undefined && profile.keyPassword === undefined) throw err;
      return this.#openWith(profile, bytes, (reference) => this.#secrets.resolveTextFresh(reference));
    }
  }

  async #openWith(
    profile: Profile,
    bytes: Uint8Array,
    text: (reference: string) => Promise<string>,
  ): Promise<KeyMaterial> {
    const optional = (reference: string | undefined): Promise<string | undefined> =>
      reference ? text(reference) : Promise.resolve(undefined);
    const [password, keyPassword, certificate, open] = await Promise.all([
      optional(profile.certPassword),
      optional(profile.keyPassword),
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
