/**
 * Which secret references each deployed function reads, from the profiles file and the
 * stack's seal key: the one list both the roles (policies.ts) and the package-time
 * validation (deployable.ts) are derived from, so a role never lacks a secret its code
 * reads and health never holds one that token lacks.
 */
import type { BrokerConfig, Profile } from '../config/types.ts';
import { isSecretReference } from '../secrets/reference.ts';
import { isKmsReference } from '../signer/kms-reference.ts';
import { isKeyless } from '../config/keyless.ts';

/** The functions of serverless.yml that get a role of their own. */
export const ROLE_FUNCTIONS = ['token', 'health', 'consentStart', 'consentCallback', 'refresh'] as const;
export type RoleFunction = (typeof ROLE_FUNCTIONS)[number];

/** One secret reference and the configuration key that holds it, for messages. */
export interface SecretUse {
  /** `profile docusign: certPassword`, `consent.stateKey`, `cache.sealKey`. */
  readonly where: string;
  readonly reference: string;
}

/** The key material of a profile: keystore (unless KMS holds the key), passwords, certificate. */
function keyMaterial(profile: Profile): SecretUse[] {
  const at = (key: string, reference: string | undefined): SecretUse[] =>
    reference === undefined ? [] : [{ where: `profile ${profile.name}: ${key}`, reference }];
  return [
    // A KMS key is granted apart; aws:web-identity is no secret (web-identity-policy.ts).
    ...(isKmsReference(profile.certStore) || isKeyless(profile.certStore)
      ? []
      : at('certStore', profile.certStore)),
    ...at('certPassword', profile.certPassword),
    ...at('keyPassword', profile.keyPassword),
    ...at('certificate', profile.certificate),
  ];
}

/** Header and parameter values written as references: resolved before each token request. */
function requestSecrets(profile: Profile): SecretUse[] {
  const out: SecretUse[] = [];
  for (const [kind, values] of [
    ['headers', profile.headers],
    ['params', profile.params],
  ] as const) {
    for (const [name, value] of Object.entries(values)) {
      if (isSecretReference(value))
        out.push({ where: `profile ${profile.name}: ${kind}.${name}`, reference: value });
    }
  }
  return out;
}

/** The deployment's facts that are not in the profiles file. */
export interface StackSecrets {
  /** The seal key reference the stack gives (param `cacheSealKey`), used when the file names none. */
  readonly cacheSealKey: string | undefined;
}

/**
 * The secret references `fn` reads when deployed:
 * - `token`, `refresh`: every profile's key material and request secrets, and the seal key;
 * - `consentCallback`: the same, the client secrets (the code exchange) and the state key;
 * - `consentStart`: the state key only;
 * - `health`: the key material only (`?deep=1`).
 */
export function secretUses(config: BrokerConfig, fn: RoleFunction, stack: StackSecrets): SecretUse[] {
  const profiles = Object.values(config.profiles);
  const stateKey: SecretUse[] =
    config.consent.stateKey === undefined
      ? []
      : [{ where: 'consent.stateKey', reference: config.consent.stateKey }];
  const sealReference = config.cache.sealKey ?? stack.cacheSealKey;
  const sealKey: SecretUse[] =
    sealReference === undefined || sealReference === ''
      ? []
      : [{ where: 'cache.sealKey', reference: sealReference }];
  switch (fn) {
    case 'health':
      return profiles.flatMap(keyMaterial);
    case 'consentStart':
      return stateKey;
    case 'token':
    case 'refresh':
      return [...profiles.flatMap((p) => [...keyMaterial(p), ...requestSecrets(p)]), ...sealKey];
    case 'consentCallback':
      return [
        ...profiles.flatMap((p) => [
          ...keyMaterial(p),
          ...requestSecrets(p),
          ...(p.clientSecret === undefined
            ? []
            : [{ where: `profile ${p.name}: clientSecret`, reference: p.clientSecret }]),
        ]),
        ...sealKey,
        ...stateKey,
      ];
  }
}

/** Every reference any function reads, once per place it is written. */
export function allSecretUses(config: BrokerConfig, stack: StackSecrets): SecretUse[] {
  const seen = new Set<string>();
  const out: SecretUse[] = [];
  for (const fn of ROLE_FUNCTIONS) {
    for (const use of secretUses(config, fn, stack)) {
      const key = `${use.where}\0${use.reference}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(use);
    }
  }
  return out;
}
