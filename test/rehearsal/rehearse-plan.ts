/**
 * What a rehearsal of the user's own profiles file needs before anything starts: its
 * arguments, where each secret the functions read comes from (a local file the user
 * names, or a key made for the run for the stack's own seal and state keys), the caller
 * each profile is asked as, and the profiles file pointed at the stand-in provider.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import type { BrokerConfig, Profile } from '../../lib/config/types.ts';
import { allSecretUses } from '../../lib/deploy/secret-reads.ts';
import { parseReference } from '../../lib/secrets/reference.ts';
import { isKmsReference } from '../../lib/signer/kms-reference.ts';

/** The path of Google's Security Token Service exchange (and of the stand-in's). */
const GOOGLE_STS_PATH = '/v1/token';

/**
 * The key column of a profile with `webIdentity`: the JWT it asks STS for, never a key
 * (a keystore fallback is not taken while STS answers).
 */
export function webIdentityKey(profile: Profile): string | undefined {
  const settings = profile.webIdentity;
  return settings && `web identity (${settings.audience.join(' ')}, ${settings.algorithm})`;
}

export const USAGE =
  'usage: npm run rehearse -- [--profiles F] [--stage S] [--secret NAME=FILE]... [--secret-kms-key NAME=KEY]... [--param NAME=VALUE]...';

/** The rehearsal's arguments. */
export interface RehearsalArgs {
  /** The profiles file, relative to the project (as `--param="profiles=…"` takes it). */
  readonly profiles: string;
  readonly stage: string;
  /** Secret name or ARN -> local file holding its value. */
  readonly secretFiles: ReadonlyMap<string, string>;
  /** Secret name or ARN -> the customer-managed KMS key it is encrypted with (CreateSecret's KmsKeyId). */
  readonly secretKeys: ReadonlyMap<string, string>;
  /** serverless params passed to `osls package` (`secretsKmsKeys`, `domainName`, …). */
  readonly params: Readonly<Record<string, string>>;
}

/** A mistake in the arguments: one line, exit 2. */
export class RehearsalUsageError extends Error {
  override readonly name = 'RehearsalUsageError';
}

function pairs(values: readonly string[] | undefined, option: string): [string, string][] {
  return (values ?? []).map((value) => {
    const at = value.indexOf('=');
    if (at <= 0 || at === value.length - 1)
      throw new RehearsalUsageError(`--${option} takes NAME=VALUE, got "${value.slice(0, 40)}"; ${USAGE}`);
    return [value.slice(0, at), value.slice(at + 1)];
  });
}

/** Parses the command line (after `npm run rehearse --`). */
export function parseRehearsalArgs(argv: readonly string[], cwd: string): RehearsalArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        profiles: { type: 'string', default: 'token-broker.yaml' },
        stage: { type: 'string', default: 'dev' },
        secret: { type: 'string', multiple: true },
        'secret-kms-key': { type: 'string', multiple: true },
        param: { type: 'string', multiple: true },
      },
      allowPositionals: false,
      strict: true,
    });
  } catch (err) {
    throw new RehearsalUsageError(
      `${err instanceof Error ? err.message.split('\n')[0] : 'bad arguments'}; ${USAGE}`,
    );
  }
  const { values } = parsed;
  const params = Object.fromEntries(pairs(values.param, 'param'));
  if ('profiles' in params) throw new RehearsalUsageError(`give the profiles file with --profiles; ${USAGE}`);
  const secretFiles = new Map(
    pairs(values.secret, 'secret').map(([name, file]) => [name, resolve(cwd, file)]),
  );
  const secretKeys = new Map(pairs(values['secret-kms-key'], 'secret-kms-key'));
  for (const name of secretKeys.keys())
    if (!secretFiles.has(name))
      throw new RehearsalUsageError(
        `--secret-kms-key ${name}: give the secret's file with --secret ${name}=<file>`,
      );
  return { profiles: values.profiles, stage: values.stage, secretFiles, secretKeys, params };
}

/** Where one secret's value comes from. */
export interface SecretSource {
  /** The name or ARN the references give. */
  readonly secretId: string;
  /** Where it is used, e.g. `profile docusign: certStore`. */
  readonly uses: readonly string[];
  readonly value: { readonly binary: Uint8Array } | { readonly text: string };
  /** The customer-managed key it is stored under, if any. */
  readonly kmsKeyId?: string | undefined;
  /** True for the stack's seal and state keys made for this run. */
  readonly generated: boolean;
}

/**
 * A file's bytes as Secrets Manager would hold them after the documented upload:
 * text (`--secret-string file://…`) when it is UTF-8 without NUL, else binary
 * (`--secret-binary fileb://…`), byte for byte.
 */
function secretValueOf(file: string): SecretSource['value'] {
  const bytes = readFileSync(file);
  const text = bytes.toString('utf8');
  if (!text.includes('\0') && Buffer.from(text, 'utf8').equals(bytes)) return { text };
  return { binary: new Uint8Array(bytes) };
}

/** The seal key reference the stack gives (serverless.yml `params.default.cacheSealKey`). */
export function stackSealKey(stage: string, params: Readonly<Record<string, string>>): string {
  return params['cacheSealKey'] ?? `secretsmanager:token-broker/${stage}/cache-key`;
}

/**
 * Every secret the deployed functions read, with its value: from `--secret NAME=FILE`, or,
 * for the stack's seal key and the consent state key when not given, 32 random bytes; the
 * certificate of a KMS-held key is made by the rehearsal's stand-in key (an empty value here).
 *
 * @returns the sources, and one line per secret no file was given for (or whose file is missing).
 */
export function planSecrets(
  config: BrokerConfig,
  args: RehearsalArgs,
): { sources: SecretSource[]; problems: string[] } {
  const uses = new Map<string, string[]>();
  for (const use of allSecretUses(config, { cacheSealKey: stackSealKey(args.stage, args.params) })) {
    const parsed = parseReference(use.reference);
    if (parsed.scheme !== 'secretsmanager') continue;
    uses.set(parsed.secretId, [...(uses.get(parsed.secretId) ?? []), use.where]);
  }
  const kmsCertificates = new Set(
    Object.values(config.profiles)
      .filter((p) => isKmsReference(p.certStore))
      .map((p) => `profile ${p.name}: certificate`),
  );
  const sources: SecretSource[] = [];
  const problems: string[] = [];
  for (const [secretId, where] of uses) {
    const file = args.secretFiles.get(secretId);
    const stackKey = where.every((w) => w === 'cache.sealKey' || w === 'consent.stateKey');
    // A KMS-held key is stood in for by a loopback key, and its certificate by one that key signs.
    const kmsCertificate = where.every((w) => kmsCertificates.has(w));
    if (kmsCertificate) {
      sources.push({ secretId, uses: where, value: { text: '' }, generated: true });
      continue;
    }
    if (file === undefined) {
      if (stackKey) {
        sources.push({
          secretId,
          uses: where,
          value: { text: randomBytes(32).toString('base64') },
          generated: true,
        });
      } else {
        problems.push(
          `secret ${secretId} (${where.join(', ')}) has no local file; pass --secret ${secretId}=<file>`,
        );
      }
      continue;
    }
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) {
      problems.push(`secret ${secretId}: no file at ${file}; pass --secret ${secretId}=<file>`);
      continue;
    }
    sources.push({
      secretId,
      uses: where,
      value: secretValueOf(file),
      generated: false,
      kmsKeyId: args.secretKeys.get(secretId),
    });
  }
  for (const secretId of args.secretFiles.keys()) {
    if (!uses.has(secretId))
      problems.push(`secret ${secretId} is given with --secret but no profile reads it; check its name`);
  }
  return { sources, problems };
}

/**
 * An IAM principal (the `userArn` API Gateway passes) that a profile's `callers` admit:
 * the first ARN pattern with each `*` made concrete; a role is asked as one of its sessions.
 */
export function callerFor(profile: Profile): string | undefined {
  const pattern = profile.callers.find((c) => c.startsWith('arn:'));
  if (pattern === undefined) return undefined;
  const arn = pattern.replace(/\*/g, 'rehearsal');
  const role = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(arn);
  return role ? `arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}/rehearsal` : arn;
}

/**
 * The profiles file as packaged, with every profile's token endpoint and consent page moved
 * to the stand-in authorization server (an RFC 8693 exchange at Google's STS path to the
 * stand-in's Google-style `/v1/token`, and google-wif's `impersonate.url` to its
 * generateAccessToken). The audience stays what the profile would send to
 * the real provider, so the stand-in verifies the assertion the provider would get.
 */
export function pointAtStandIn(
  text: string,
  config: BrokerConfig,
  standIn: { readonly tokenUrl: string; readonly authorizeUrl: string },
): string {
  const doc = parseDocument(text);
  for (const [name, profile] of Object.entries(config.profiles)) {
    const googleSts =
      profile.grant === 'token-exchange' && new URL(profile.tokenUri.url).pathname === GOOGLE_STS_PATH;
    const tokenUrl = googleSts ? new URL(GOOGLE_STS_PATH, standIn.tokenUrl).href : standIn.tokenUrl;
    doc.setIn(['profiles', name, 'tokenUri'], `${profile.tokenUri.method} ${tokenUrl}`);
    if (profile.impersonate !== undefined)
      doc.setIn(
        ['profiles', name, 'impersonate', 'url'],
        new URL(new URL(profile.impersonate.url).pathname, standIn.tokenUrl).href,
      );
    doc.setIn(['profiles', name, 'audience'], profile.audience);
    if (profile.authUri !== undefined) doc.setIn(['profiles', name, 'authUri'], standIn.authorizeUrl);
  }
  return doc.toString();
}

/** One row of the rehearsal's table: a profile and each step's outcome (`ok`, `-` or why not). */
export interface RehearsalRow {
  profile: string;
  secrets: string;
  key: string;
  assertion: string;
  consent: string;
  refresh: string;
}

const COLUMNS: readonly (keyof RehearsalRow)[] = [
  'profile',
  'secrets',
  'key',
  'assertion',
  'consent',
  'refresh',
];

/** The rows as an aligned text table. */
export function formatTable(rows: readonly RehearsalRow[]): string {
  const widths = COLUMNS.map((c) => Math.max(c.length, ...rows.map((r) => r[c].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(COLUMNS),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(COLUMNS.map((c) => r[c]))),
  ]
    .map((l) => `${l}\n`)
    .join('');
}

/**
 * True when every step of the row passed or did not apply (a keyless profile's `none`
 * secrets and `web identity (…)` key are passes).
 */
export function rowOk(row: RehearsalRow): boolean {
  return COLUMNS.slice(1).every(
    (c) =>
      row[c] === 'ok' ||
      row[c] === '-' ||
      (c === 'secrets' && row[c] === 'none') ||
      (c === 'key' && row[c].startsWith('web identity (')),
  );
}
