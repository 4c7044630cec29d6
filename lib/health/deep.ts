/**
 * `GET /health?deep=1`: per profile, whether its key material opens (or its KMS key is
 * enabled), without calling any provider. Answers carry codes only, never a message, a
 * secret name or key bytes.
 *
 * Opening a keystore can cost seconds of CPU (a PKCS#12 with a million KDF iterations), so
 * a deep check is not redone per request: one {@link DeepHealthCheck} lives as long as the
 * process and remembers each profile's result, keyed by its keystore secret's version.
 * A check that passed is reused until that version changes (seen once the secret
 * resolver reads the secret again, within `SECRET_CACHE_MAX_AGE_MS`) or
 * {@link DEEP_CHECK_MAX_AGE_MS} passes; a check that failed is reused for
 * {@link DEEP_CHECK_FAILED_MAX_AGE_MS} whatever the version, so a wrong-password profile
 * cannot be used to burn CPU; concurrent requests share the check in flight.
 */
import type { KmsApiFactory } from '../aws/kms.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import type { OpenKeystore } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { isKmsReference } from '../signer/kms-reference.ts';
import { isKeyless } from '../config/keyless.ts';
import { silentLogger, type Clock, type Logger } from '../types.ts';
import { checkProfile, failedCheck, type ProfileCheck } from './check-profile.ts';

export type { ProfileCheck } from './check-profile.ts';

/**
 * How long a passed check is reused while the keystore secret's version stays the same:
 * 15 minutes. It bounds what the version cannot show: a password secret changed beside
 * an unchanged keystore, a KMS key disabled, an access policy taken away.
 */
export const DEEP_CHECK_MAX_AGE_MS = 15 * 60 * 1000;

/**
 * How long a failed check is reused, whatever the version: 1 minute. A fixed profile is
 * seen within this time; a broken one costs at most one opening per minute per process.
 */
export const DEEP_CHECK_FAILED_MAX_AGE_MS = 60 * 1000;

/** The answer of a deep check: `ok` when every profile passed, else `degraded`. */
export interface DeepHealth {
  readonly status: 'ok' | 'degraded';
  readonly checks: Record<string, ProfileCheck>;
}

/** What {@link DeepHealthCheck} needs. */
export interface DeepHealthDeps {
  readonly secrets: SecretResolver;
  /** KMS per region; default: SDK clients with the ambient configuration. */
  readonly kms?: KmsApiFactory | undefined;
  /** Default: lib/keystore's, loaded on first use. */
  readonly openKeystore?: OpenKeystore | undefined;
  readonly clock?: Clock | undefined;
  /** Default {@link DEEP_CHECK_MAX_AGE_MS}. */
  readonly maxAgeMs?: number | undefined;
  /** Default {@link DEEP_CHECK_FAILED_MAX_AGE_MS}. */
  readonly failedMaxAgeMs?: number | undefined;
  /** A failed check is logged (profile and code) once per opening, not per request. */
  readonly logger?: Logger | undefined;
}

/** A finished check and what it was made against. */
interface Checked {
  /** The keystore secret's version (the reference itself for a KMS key; '' when unreadable). */
  readonly version: string;
  readonly at: number;
  readonly check: ProfileCheck;
}

/** Deep checks with their results remembered; build one per process. */
export class DeepHealthCheck {
  readonly #checked = new Map<string, Checked>();
  readonly #inFlight = new Map<string, Promise<ProfileCheck>>();
  readonly #secrets: SecretResolver;
  readonly #clock: Clock;
  readonly #maxAgeMs: number;
  readonly #failedMaxAgeMs: number;
  readonly #logger: Logger;
  readonly #kms: () => Promise<KmsApiFactory>;
  readonly #openKeystore: () => Promise<OpenKeystore>;

  constructor(deps: DeepHealthDeps) {
    this.#secrets = deps.secrets;
    this.#clock = deps.clock ?? Date.now;
    this.#maxAgeMs = deps.maxAgeMs ?? DEEP_CHECK_MAX_AGE_MS;
    this.#failedMaxAgeMs = deps.failedMaxAgeMs ?? DEEP_CHECK_FAILED_MAX_AGE_MS;
    this.#logger = deps.logger ?? silentLogger;
    let kms = deps.kms;
    this.#kms = async () => (kms ??= (await import('../aws/kms.ts')).kmsApiFactory());
    const open = deps.openKeystore;
    this.#openKeystore = async () => open ?? (await import('../keystore/index.ts')).openKeystore;
  }

  /** Checks every profile of `config` (each as {@link check} does). */
  async run(config: BrokerConfig): Promise<DeepHealth> {
    const names = Object.keys(config.profiles).sort();
    const results = await Promise.all(names.map((name) => this.check(config.profiles[name]!)));
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
    return { status: results.every((r) => r.ok) ? 'ok' : 'degraded', checks };
  }

  /**
   * The profile's check: the remembered one while it holds (see the module's comment),
   * else a new one, shared by every caller that asks while it runs.
   */
  check(profile: Profile): Promise<ProfileCheck> {
    const key = `${profile.name}\u0000${profile.certStore}`;
    const running = this.#inFlight.get(key);
    if (running) return running;
    const started = this.#checkOnce(key, profile).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, started);
    return started;
  }

  async #checkOnce(key: string, profile: Profile): Promise<ProfileCheck> {
    const last = this.#checked.get(key);
    if (last && !last.check.ok && this.#clock() - last.at < this.#failedMaxAgeMs) return last.check;
    let version: string;
    try {
      version =
        isKmsReference(profile.certStore) || isKeyless(profile.certStore)
          ? profile.certStore
          : (await this.#secrets.resolveBytes(profile.certStore)).version;
    } catch (err) {
      return this.#remember(key, profile, '', failedCheck(err));
    }
    if (last?.check.ok && last.version === version && this.#clock() - last.at < this.#maxAgeMs)
      return last.check;
    const check = await checkProfile(profile, {
      secrets: this.#secrets,
      kms: this.#kms,
      openKeystore: this.#openKeystore,
    });
    return this.#remember(key, profile, version, check);
  }

  #remember(key: string, profile: Profile, version: string, check: ProfileCheck): ProfileCheck {
    this.#checked.set(key, { version, at: this.#clock(), check });
    if (!check.ok)
      this.#logger.warn('deep health: key material check failed', {
        profile: profile.name,
        code: check.code,
      });
    return check;
  }
}

/**
 * One deep check of every profile, nothing remembered (the CLI, tests). A server or a
 * function keeps one {@link DeepHealthCheck} instead.
 */
export function deepHealth(config: BrokerConfig, deps: DeepHealthDeps): Promise<DeepHealth> {
  return new DeepHealthCheck(deps).run(config);
}
