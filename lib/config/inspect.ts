import type { KmsApiFactory } from '../aws/kms.ts';
import { openKmsSigner } from '../signer/kms.ts';
import { isKmsReference, parseKmsReference } from '../signer/kms-reference.ts';
import { isKeyless } from './keyless.ts';
import { trustLines } from './keyless-trust.ts';
import type { KeyObject } from 'node:crypto';
import { BrokerError, ConfigError } from '../errors.ts';
import type { KeyMaterial, OpenKeystoreOptions } from '../keystore/types.ts';
import { describeReference, isSecretReference } from '../secrets/reference.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { CALLBACK_PATH } from './callback-path.ts';
import { PRESETS } from './presets.ts';
import type { BrokerConfig, Profile } from './types.ts';

/** A certificate expiring sooner than this many days is reported as a warning. */
const CERT_EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;

/** One line of a report. */
export interface ReportLine {
  readonly level: 'info' | 'warning' | 'error';
  readonly text: string;
}

/** What `check` found about one profile (or the top-level settings). */
export interface ProfileReport {
  readonly name: string;
  readonly provider: string;
  readonly ok: boolean;
  readonly lines: readonly ReportLine[];
}

/** What {@link inspectProfile} needs. */
export interface InspectDeps {
  readonly secrets: SecretResolver;
  readonly openKeystore: (bytes: Uint8Array, options: OpenKeystoreOptions) => Promise<KeyMaterial>;
  readonly now: Date;
  /** KMS per region, for `kms:` profiles; default: SDK clients with the ambient configuration. */
  readonly kms?: KmsApiFactory | undefined;
}

/** `RSA 2048`, `EC P-256`, `Ed25519`. */
export function describeKey(key: KeyObject): string {
  const type = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') return `${type.toUpperCase()} ${details.modulusLength ?? '?'}`;
  if (type === 'ec') {
    const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
    return `EC ${curves[details.namedCurve ?? ''] ?? details.namedCurve ?? '?'}`;
  }
  return type === 'ed25519' ? 'Ed25519' : type === 'ed448' ? 'Ed448' : type;
}

function failure(err: unknown): string {
  return err instanceof BrokerError
    ? `${err.code}: ${err.message}`
    : `unexpected ${err instanceof Error ? err.name : typeof err}`;
}

/**
 * Resolves a profile's secret references, opens its keystore and reports, one line each:
 * key algorithm, alias, certificate expiry, whether the audience fits the preset, and
 * every problem. Never prints a secret value.
 */
export async function inspectProfile(
  profile: Profile,
  warnings: readonly string[],
  deps: InspectDeps,
): Promise<ProfileReport> {
  const lines: ReportLine[] = [];
  const info = (text: string) => lines.push({ level: 'info', text });
  const warn = (text: string) => lines.push({ level: 'warning', text });
  const error = (text: string) => lines.push({ level: 'error', text });
  const prefix = `profile "${profile.name}": `;
  for (const w of warnings) if (w.startsWith(prefix)) warn(w.slice(prefix.length));

  const refs: Array<[string, string | undefined]> = [
    ['certPassword', profile.certPassword],
    ['keyPassword', profile.keyPassword],
    ['clientSecret', profile.clientSecret],
    ...Object.entries(profile.headers)
      .filter(([, v]) => isSecretReference(v))
      .map(([h, v]): [string, string] => [`headers.${h}`, v]),
    ...Object.entries(profile.params)
      .filter(([, v]) => isSecretReference(v))
      .map(([p, v]): [string, string] => [`params.${p}`, v]),
  ];
  const texts = new Map<string, string>();
  for (const [key, ref] of refs) {
    if (ref === undefined) continue;
    if (ref.startsWith('plain:')) warn(`${key}: written inline (plain:); keep it in Secrets Manager instead`);
    try {
      texts.set(key, await deps.secrets.resolveText(ref));
    } catch (err) {
      error(`${key}: ${failure(err)}`);
    }
  }

  const kms = isKmsReference(profile.certStore);
  let store: Uint8Array | undefined;
  // A keyless profile has no key to open: the trust settings to enter at the provider instead.
  for (const line of trustLines(profile, undefined)) info(line);
  if (!kms && !isKeyless(profile.certStore)) {
    try {
      store = (await deps.secrets.resolveBytes(profile.certStore)).bytes;
    } catch (err) {
      error(`certStore: ${failure(err)}`);
    }
  }
  let certificate: Uint8Array | undefined;
  if (profile.certificate !== undefined) {
    try {
      certificate = (await deps.secrets.resolveBytes(profile.certificate)).bytes;
    } catch (err) {
      error(`certificate: ${failure(err)}`);
    }
  }

  if (
    store !== undefined &&
    !lines.some((l) => l.level === 'error' && /^(certPassword|keyPassword|certificate):/.test(l.text))
  ) {
    try {
      const key = await deps.openKeystore(store, {
        type: profile.certStoreType,
        password: texts.get('certPassword'),
        keyPassword: texts.get('keyPassword'),
        alias: profile.certAlias,
        algorithm: profile.assertion.algorithm,
        ...(certificate !== undefined ? { certificate } : {}),
        now: deps.now,
      });
      info(
        `key: ${describeKey(key.privateKey)}, signs ${key.jwsAlgorithm}, alias "${key.alias}" (${key.format})`,
      );
      reportCertificate(key, profile, deps.now, info, warn, error);
      for (const w of key.warnings) warn(`keystore: ${w}`);
    } catch (err) {
      error(`certStore (${describeReference(profile.certStore)}): ${failure(err)}`);
    }
  }

  if (kms && !lines.some((l) => l.level === 'error' && /^certificate:/.test(l.text))) {
    try {
      const reference = parseKmsReference(profile.certStore);
      if (typeof reference === 'string') throw new ConfigError('ERR_CONFIG', reference);
      const factory = deps.kms ?? (await import('../aws/kms.ts')).kmsApiFactory();
      const signer = await openKmsSigner({
        api: await factory(reference.region),
        keyId: reference.keyId,
        certificate,
        algorithm: profile.assertion.algorithm,
      });
      info(`key: KMS ${signer.keySpec} ${signer.keyArn}, signs ${signer.jwsAlgorithm}`);
      reportCertificate(signer, profile, deps.now, info, warn, error);
    } catch (err) {
      error(`certStore (${profile.certStore}): ${failure(err)}`);
    }
  }

  reportAudience(profile, info, warn);
  if (profile.callers.length === 0) warn('callers: empty, so no caller may use this profile');
  reportConsent(profile, error);
  return {
    name: profile.name,
    provider: profile.provider,
    ok: !lines.some((l) => l.level === 'error'),
    lines,
  };
}

function reportCertificate(
  key: Pick<KeyMaterial, 'notAfter' | 'certificates'>,
  profile: Profile,
  now: Date,
  info: (t: string) => void,
  warn: (t: string) => void,
  error: (t: string) => void,
): void {
  const wantsCert = profile.assertion.x5t || profile.assertion.x5tS256 || profile.assertion.x5c;
  if (key.notAfter === undefined) {
    if (wantsCert)
      error(
        'certificate: none found, but the assertion header asks for x5t/x5t#S256/x5c; add `certificate:`',
      );
    else info('certificate: none (bare key)');
    return;
  }
  const days = Math.floor((key.notAfter.getTime() - now.getTime()) / DAY_MS);
  const when = key.notAfter.toISOString().slice(0, 10);
  const subject = key.certificates[0]?.subject.replace(/\n/g, ', ') ?? '';
  if (days < 0)
    error(
      `certificate: expired on ${when}${subject ? ` (${subject})` : ''}; renew it and upload the new one to the provider`,
    );
  else if (days < CERT_EXPIRY_WARNING_DAYS)
    warn(`certificate: expires in ${days} days (${when}); renew it soon`);
  else info(`certificate: ${subject || 'present'}, expires ${when} (${days} days)`);
}

/**
 * A profile whose provider asks users for consent (the §2.1 grant with a consent page, or
 * a redirectUri written) must have a consent step that works: a consent page (`authUri`)
 * and the broker's own callback as redirect URI. Anything else fails only when a user
 * first needs consent, long after `check` said "ok".
 */
function reportConsent(profile: Profile, error: (t: string) => void): void {
  const wantsConsent =
    profile.redirectUri !== undefined || (profile.grant === 'jwt-bearer' && profile.authUri !== undefined);
  if (!wantsConsent) return;
  const callback = `https://<your broker>:443${CALLBACK_PATH}`;
  if (profile.authUri === undefined)
    error("authUri: not set, so the consent step cannot work; set it to the provider's consent page");
  if (profile.redirectUri === undefined) {
    error(
      `redirectUri: not set, so the consent step cannot work; register ${callback} with the provider as the redirect URI and set redirectUri to it`,
    );
    return;
  }
  const url = new URL(profile.redirectUri);
  if (!url.pathname.endsWith(CALLBACK_PATH) || url.search !== '')
    error(
      `redirectUri: ${url.origin}${url.pathname} is not the broker's callback, so the consent step cannot work; set it to ${callback} and register that with the provider`,
    );
}

function reportAudience(profile: Profile, info: (t: string) => void, warn: (t: string) => void): void {
  const preset = PRESETS[profile.provider];
  const audiences = typeof profile.audience === 'string' ? [profile.audience] : profile.audience;
  const url = new URL(profile.tokenUri.url);
  const shown = audiences.map((a) => `"${a}"`).join(', ');
  if (profile.provider === 'generic') {
    info(`audience: ${shown}`);
  } else if (audiences.every((a) => preset.audienceFits(a, url))) {
    info(`audience: ${shown} fits ${profile.provider}`);
  } else {
    warn(`audience: ${shown} does not fit ${profile.provider}, which expects ${preset.audienceForm}`);
  }
}

/** Resolves the top-level secret references (cache seal key, consent state key, SigV4 secrets). */
export async function inspectSettings(config: BrokerConfig, secrets: SecretResolver): Promise<ProfileReport> {
  const lines: ReportLine[] = [];
  const refs: Array<[string, string | undefined]> = [
    ['cache.sealKey', config.cache.sealKey],
    ['consent.stateKey', config.consent.stateKey],
    ...Object.entries(config.server.sigv4?.credentials ?? {}).map(([id, c]): [string, string] => [
      `server.sigv4.credentials.${id}.secret`,
      c.secret,
    ]),
  ];
  for (const [key, ref] of refs) {
    if (ref === undefined) continue;
    try {
      await secrets.resolveBytes(ref);
      lines.push({ level: 'info', text: `${key}: resolved` });
    } catch (err) {
      lines.push({ level: 'error', text: `${key}: ${failure(err)}` });
    }
  }
  return { name: 'settings', provider: '', ok: !lines.some((l) => l.level === 'error'), lines };
}
