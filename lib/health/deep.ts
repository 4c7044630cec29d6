/**
 * `GET /health?deep=1`: per profile, whether its key material opens (or its KMS key is
 * enabled), without calling any provider. Answers carry codes only, never a message, a
 * secret name or key bytes.
 */
import type { KmsApiFactory } from '../aws/kms.ts';
import { KeyMaterialCache } from '../cache/key-material.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import { BrokerError, KmsError } from '../errors.ts';
import type { OpenKeystore } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { kmsError } from '../signer/kms-errors.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';

/** One profile's result. */
export type ProfileCheck = { readonly ok: true } | { readonly ok: false; readonly code: string };

/** What {@link deepHealth} needs. */
export interface DeepHealthDeps {
  readonly secrets: SecretResolver;
  /** KMS per region; default: SDK clients with the ambient configuration. */
  readonly kms?: KmsApiFactory;
  /** Default: lib/keystore's, loaded on first use. */
  readonly openKeystore?: OpenKeystore;
}

async function checkKms(profile: Profile, kms: KmsApiFactory): Promise<void> {
  const reference = parseKmsReference(profile.certStore);
  if (typeof reference === 'string') throw new BrokerError('ERR_CONFIG', reference);
  let state: string;
  try {
    state = (await (await kms(reference.region)).describeKey(reference.keyId)).keyState;
  } catch (err) {
    throw kmsError(err, reference.keyId, 'DescribeKey');
  }
  if (state !== 'Enabled')
    throw new KmsError('ERR_KMS_KEY_STATE', `KMS key ${reference.keyId} is ${state}; enable it`);
}

/**
 * Checks every profile's key material at once: keystores are opened (secrets resolved,
 * passwords checked), KMS keys described (`kms:DescribeKey`, state `Enabled`).
 *
 * @returns the status (`ok` when every profile passed, else `degraded`) and each profile's check.
 */
export async function deepHealth(
  config: BrokerConfig,
  deps: DeepHealthDeps,
): Promise<{ status: 'ok' | 'degraded'; checks: Record<string, ProfileCheck> }> {
  const keys = new KeyMaterialCache({
    secrets: deps.secrets,
    openKeystore: async () => deps.openKeystore ?? (await import('../keystore/index.ts')).openKeystore,
  });
  let kms = deps.kms;
  const names = Object.keys(config.profiles).sort();
  const results = await Promise.all(
    names.map(async (name): Promise<ProfileCheck> => {
      const profile = config.profiles[name]!;
      try {
        if (isKmsReference(profile.certStore)) {
          kms ??= (await import('../aws/kms.ts')).kmsApiFactory();
          await checkKms(profile, kms);
        } else {
          await keys.get(profile);
        }
        return { ok: true };
      } catch (err) {
        return { ok: false, code: err instanceof BrokerError ? err.code : 'ERR_INTERNAL' };
      }
    }),
  );
  const checks = Object.fromEntries(names.map((name, i) => [name, results[i]!]));
  return { status: results.every((r) => r.ok) ? 'ok' : 'degraded', checks };
}
