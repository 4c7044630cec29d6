import type { KmsApiFactory } from '../aws/kms.ts';
import { dirname } from 'node:path';
import { loadConfig, type BrokerConfig } from '../config/index.ts';
import { inspectProfile, inspectSettings, type ProfileReport } from '../config/inspect.ts';
import { DpopKey } from '../client/dpop.ts';
import { BrokerError, ConfigError, DpopNonceRequired } from '../errors.ts';
import type { OpenKeystore } from '../keystore/types.ts';
import { createSecretResolver } from '../secrets/index.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { checkDeployed } from './check-deployed.ts';
import { withLiveIssuer } from './check-keyless.ts';
import type { StsApiFactory } from '../aws/sts.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, reportError, UsageError, type CliIo } from './io.ts';

/** Replaceable parts, for tests. */
export interface CheckDeps {
  readonly secrets?: SecretResolver;
  readonly openKeystore?: OpenKeystore;
  readonly now?: Date;
  /** Token endpoint client for `--live`; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** KMS per region for `kms:` profiles; default: the ambient AWS configuration. */
  readonly kms?: KmsApiFactory;
  /** STS per region for keyless profiles (`--live`); default: the ambient AWS configuration. */
  readonly sts?: StsApiFactory;
}

/** `token-broker check`: usage, flags and example (`--help`); its flags are the parser's options. */
export const CHECK_COMMAND = defineCommand({
  name: 'check',
  usage:
    'check [profile] [--config F] [--live] | check --deployed [--config F] [--domain-name D] [--stage S] [--event-bus B]',
  description:
    'Validates the config, resolves every secret reference, opens every keystore and reports per profile.\nExit 0 all well, 1 a profile (or top-level secret) is bad, 2 the config itself is invalid.',
  flags: {
    config: {
      type: 'string',
      value: 'F',
      help: 'the profiles file (default: $TOKEN_BROKER_CONFIG, else ./token-broker.yaml)',
    },
    live: {
      type: 'boolean',
      default: false,
      help: "also fetch one token per healthy profile (its default subject), shown by fingerprint only; for keyless profiles, read the account's issuer URL from STS and check its discovery",
    },
    deployed: {
      type: 'boolean',
      default: false,
      help: 'check the file as the deployed functions will see it (what osls package checks) instead',
    },
    'domain-name': {
      type: 'string',
      value: 'D',
      help: "with --deployed: the stack's custom domain (domainName); consent redirectUris must be on it",
    },
    stage: {
      type: 'string',
      value: 'S',
      help: 'with --deployed: the stage you deploy (osls --stage), so the topic-policy statements name the real rule ARNs (default: <stage>)',
    },
    'event-bus': {
      type: 'string',
      value: 'B',
      help: "with --deployed: the stack's bus (the eventBus parameter), a name or an ARN (default: the default bus)",
    },
  },
  example: 'npx token-broker check --config token-broker.yaml --live',
});

const USAGE = `usage: token-broker ${CHECK_COMMAND.usage}`;

/** A stage name as osls accepts it (its config schema's stage pattern). */
const STAGE = /^[A-Za-z0-9-]+$/;

function readArgs(argv: readonly string[]) {
  const { values, positionals } = parseCliArgs(argv, CHECK_COMMAND.flags, { usage: USAGE });
  if (positionals.length > 1) throw new UsageError('check takes at most one profile name');
  if (values.deployed && (values.live || positionals.length > 0))
    throw new UsageError('check --deployed checks the whole file, without --live or a profile name');
  if (!values.deployed && (values.stage !== undefined || values['event-bus'] !== undefined))
    throw new UsageError('--stage and --event-bus go with check --deployed');
  if (values.stage !== undefined && !STAGE.test(values.stage))
    throw new UsageError(
      `--stage takes letters, digits and '-' (as osls does), not ${JSON.stringify(values.stage)}`,
    );
  return {
    profile: positionals[0],
    config: values.config,
    live: values.live,
    deployed: values.deployed,
    domainName: values['domain-name'],
    stage: values.stage,
    eventBus: values['event-bus'],
  };
}

const MARK: Record<string, string> = { info: '  ', warning: '  warning: ', error: '  error: ' };

function print(report: ProfileReport, io: CliIo): void {
  const title = report.name === 'settings' ? 'settings' : `profile ${report.name} (${report.provider})`;
  io.stdout(`${title}: ${report.ok ? 'ok' : 'FAILED'}\n`);
  for (const line of report.lines) io.stdout(`${MARK[line.level]}${line.text}\n`);
}

/**
 * Fetches one token per healthy profile through the broker (its default subject, as the
 * CLI caller) and adds a line: the token's fingerprint and lifetime, or the error. A
 * profile with `dpop: required` is asked with a proof of a key made for the run (the
 * token is bound to it and thrown away), after one nonce round trip when the provider
 * wants one.
 */
async function liveCheck(
  config: BrokerConfig,
  reports: ProfileReport[],
  secrets: SecretResolver,
  deps: CheckDeps,
): Promise<ProfileReport[]> {
  // Loaded only here, so a plain check pays nothing for the broker's modules.
  const { createBroker, tokenFingerprint } = await import('../broker/index.ts');
  const broker = createBroker({
    config,
    secrets,
    ...(deps.openKeystore ? { openKeystore: deps.openKeystore } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.kms ? { kms: deps.kms } : {}),
    ...(deps.sts ? { sts: deps.sts } : {}),
    trustedCallerKinds: ['cli'],
  });
  let dpopKey: Promise<DpopKey> | undefined;
  const issue = async (name: string) => {
    const caller = { id: 'cli', kind: 'cli' } as const;
    const endpoint = config.profiles[name]?.dpop === 'required' ? config.profiles[name].tokenUri : undefined;
    if (endpoint === undefined) return broker.issue({ profile: name, caller });
    dpopKey ??= DpopKey.generate();
    const key = await dpopKey;
    const proof = (nonce?: string) => key.proof(endpoint.method, endpoint.url, { nonce });
    try {
      return await broker.issue({ profile: name, caller, dpop: await proof() });
    } catch (err) {
      if (!(err instanceof DpopNonceRequired)) throw err;
      return broker.issue({ profile: name, caller, dpop: await proof(err.nonce) });
    }
  };
  const out: ProfileReport[] = [];
  for (const report of reports) {
    if (report.name === 'settings' || !report.ok) {
      out.push(report);
      continue;
    }
    let line: ProfileReport['lines'][number];
    try {
      const token = await issue(report.name);
      line = {
        level: 'info',
        text: `live: token ${tokenFingerprint(token.access_token)} (${token.token_type}, expires in ${token.expires_in} s)`,
      };
    } catch (err) {
      const text =
        err instanceof BrokerError
          ? `${err.code}: ${err.message}`
          : `unexpected ${err instanceof Error ? err.name : typeof err}`;
      line = { level: 'error', text: `live: ${text}` };
    }
    out.push({ ...report, ok: line.level !== 'error', lines: [...report.lines, line] });
  }
  return out;
}

/**
 * `token-broker check [profile] [--config F] [--live]`: validates the config, resolves every
 * secret reference, opens every keystore and reports per profile; with `--live` it also
 * fetches a token for each healthy profile (shown by fingerprint only). Exit 0 when all is well,
 * 1 when any profile (or top-level secret) is bad, 2 when the config itself is invalid.
 * With `--deployed`, it checks the file as the packaged functions will see it instead.
 */
export async function check(argv: readonly string[], io: CliIo, deps: CheckDeps = {}): Promise<number> {
  const args = readArgs(argv);
  let config;
  try {
    config = await loadConfig({ path: args.config, env: io.env, cwd: io.cwd });
  } catch (err) {
    if (err instanceof ConfigError) return reportError(err, io);
    throw err;
  }
  const names = Object.keys(config.profiles);
  if (args.deployed) {
    io.stdout(`config ${config.source}: ${names.length} profile${names.length === 1 ? '' : 's'}\n`);
    return checkDeployed(config, io, {
      domainName: args.domainName,
      stage: args.stage,
      eventBus: args.eventBus,
    });
  }
  if (args.profile !== undefined && !names.includes(args.profile)) {
    io.stderr(`token-broker: unknown profile "${args.profile}"; profiles: ${names.join(', ') || 'none'}\n`);
    return EXIT_USAGE;
  }
  // Relative `file:` references resolve against the config file's folder, as in the service.
  const secrets = deps.secrets ?? createSecretResolver({ env: io.env, cwd: dirname(config.source) });
  const open =
    deps.openKeystore ??
    (async (bytes, options) => (await import('../keystore/index.ts')).openKeystore(bytes, options));
  const now = deps.now ?? new Date();

  io.stdout(`config ${config.source}: ${names.length} profile${names.length === 1 ? '' : 's'}\n`);
  let reports: ProfileReport[] = [];
  for (const name of args.profile !== undefined ? [args.profile] : names) {
    reports.push(
      await inspectProfile(config.profiles[name]!, config.warnings ?? [], {
        secrets,
        openKeystore: open,
        now,
        kms: deps.kms,
      }),
    );
  }
  if (args.profile === undefined) {
    const settings = await inspectSettings(config, secrets);
    if (settings.lines.length > 0) reports.push(settings);
  }
  if (args.live)
    reports = await withLiveIssuer(config, await liveCheck(config, reports, secrets, deps), deps);
  for (const report of reports) print(report, io);
  return reports.every((r) => r.ok) ? EXIT_OK : EXIT_FAILURE;
}
