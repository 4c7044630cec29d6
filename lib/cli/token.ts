import { AUDIT_MESSAGE } from '../broker/audit.ts';
import { createJsonLogger } from '../observability/json-logger.ts';
import type { Logger } from '../types.ts';
import { dirname } from 'node:path';
import { createBroker } from '../broker.ts';
import { loadConfig } from '../config/index.ts';
import { createSecretResolver } from '../secrets/index.ts';
import { parseCliArgs } from './args.ts';
import { EXIT_OK, reportError, UsageError, type CliIo } from './io.ts';

/** What tests inject into {@link token}. */
export interface TokenCommandDeps {
  readonly fetch?: typeof fetch;
}

const USAGE = 'token <profile> [--subject S] [--scope S] [--min-ttl N] [--config F]';

interface TokenArgs {
  readonly profile: string;
  readonly subject: string | undefined;
  readonly scope: string | undefined;
  readonly minTtl: number | undefined;
  readonly config: string | undefined;
}

function readArgs(argv: readonly string[]): TokenArgs {
  const parsed = parseCliArgs(
    argv,
    {
      subject: { type: 'string' },
      scope: { type: 'string' },
      'min-ttl': { type: 'string' },
      config: { type: 'string' },
    },
    { usage: `usage: ${USAGE}` },
  );
  const [profile, ...extra] = parsed.positionals;
  if (!profile) throw new UsageError(`token needs a profile name; usage: ${USAGE}`);
  if (extra.length > 0)
    throw new UsageError(`token takes one profile name, got ${parsed.positionals.length}`);
  const minTtlText = parsed.values['min-ttl'];
  if (minTtlText !== undefined && !/^\d+$/.test(minTtlText))
    throw new UsageError('--min-ttl needs a whole number of seconds');
  return {
    profile,
    subject: parsed.values.subject,
    scope: parsed.values.scope,
    minTtl: minTtlText === undefined ? undefined : Number(minTtlText),
    config: parsed.values.config,
  };
}

/**
 * `token-broker token <profile> [--subject S] [--scope S] [--min-ttl N] [--config F]`:
 * obtains one token and prints DESIGN.md's token JSON (plus `cached`) on stdout.
 *
 * The CLI is run by the operator, who already holds the configuration and its secrets,
 * so it is a trusted caller: the broker is built with `trustedCallerKinds: ['cli']` and
 * the profiles' `callers` policy does not apply. Subject and scope limits still do.
 *
 * Errors: one line on stderr; exit 1 (2 for usage and configuration mistakes).
 */
/** A logger that writes only the audit line; the CLI reports errors itself, as one line. */
function auditOnly(logger: Logger): Logger {
  const quiet = () => undefined;
  return {
    debug: quiet,
    warn: quiet,
    error: quiet,
    info: (message, fields) => (message === AUDIT_MESSAGE ? logger.info(message, fields) : undefined),
  };
}

export async function token(
  argv: readonly string[],
  io: CliIo,
  deps: TokenCommandDeps = {},
): Promise<number> {
  try {
    const args = readArgs(argv);
    const config = await loadConfig({ path: args.config, env: io.env, cwd: io.cwd });
    const secrets = createSecretResolver({ env: io.env, cwd: dirname(config.source) });
    const broker = createBroker({
      config,
      secrets,
      trustedCallerKinds: ['cli'],
      // The audit line of a CLI-issued token, on stderr (stdout holds the token).
      logger: auditOnly(createJsonLogger({ write: io.stderr, level: 'INFO' })),
      ...(deps.fetch && { fetch: deps.fetch }),
    });
    const issued = await broker.issue({
      profile: args.profile,
      subject: args.subject,
      scope: args.scope,
      minTtl: args.minTtl,
      caller: { id: 'cli', kind: 'cli' },
    });
    io.stdout(`${JSON.stringify(issued, null, 2)}\n`);
    return EXIT_OK;
  } catch (err) {
    return reportError(err, io);
  }
}
