/**
 * One profile's deep health check, uncached: its keystore opened with its current secrets
 * (secrets resolved, passwords checked, alias found), or its KMS key described
 * (`kms:DescribeKey`, state `Enabled`). No provider is called and nothing is signed.
 */
import type { KmsApiFactory } from '../aws/kms.ts';
import { KeyMaterialCache } from '../signer/key-material.ts';
import type { Profile } from '../config/types.ts';
import { BrokerError, KmsError } from '../errors.ts';
import type { OpenKeystore } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { kmsError } from '../signer/kms-errors.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';
import { isKeyless } from '../config/keyless.ts';

/** One profile's result: a code only, never a message, a secret name or key bytes. */
export type ProfileCheck = { readonly ok: true } | { readonly ok: false; readonly code: string };

/** What {@link checkProfile} needs. */
export interface ProfileCheckDeps {
  readonly secrets: SecretResolver;
  /** KMS per region, created on first use. */
  readonly kms: () => Promise<KmsApiFactory>;
  /** Opens key material, loaded on first use. */
  readonly openKeystore: () => Promise<OpenKeystore>;
}

/** The failed check for `err`: its code when it is ours, else `ERR_INTERNAL`. */
export function failedCheck(err: unknown): ProfileCheck {
  return { ok: false, code: err instanceof BrokerError ? err.code : 'ERR_INTERNAL' };
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
 * Checks `profile` once. The keystore is opened by a key-material cache of its own, so
 * the answer is about the secret's current version with the current passwords (the
 * broker's cache keeps signing with the last version that opened, which is not what an
 * operator asks here), with the cache's password handling (fetched again once, past
 * the secrets cache, on a password error).
 *
 * @returns `{ok: true}`, or `{ok: false, code}` with the error's code; never throws.
 */
export async function checkProfile(profile: Profile, deps: ProfileCheckDeps): Promise<ProfileCheck> {
  // A keyless profile has no key to open; STS is not called from here, so the health
  // function's role needs no sts:GetWebIdentityToken (docs/keyless.md).
  if (isKeyless(profile.certStore)) return { ok: true };
  try {
    if (isKmsReference(profile.certStore)) {
      await checkKms(profile, await deps.kms());
    } else {
      await new KeyMaterialCache({ secrets: deps.secrets, openKeystore: deps.openKeystore }).get(profile);
    }
    return { ok: true };
  } catch (err) {
    return failedCheck(err);
  }
}
