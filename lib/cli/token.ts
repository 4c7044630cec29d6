import { dirname } from 'node:path';
import { createBroker } from '../broker/index.ts';
import { loadConfig } from '../config/index.ts';
import { createJsonLogger } from '../observability/json-logger.ts';
import { createSecretResolver } from '../secrets/index.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { EXIT_OK, reportError, UsageError, type CliIo } from './io.ts';

/** What tests inject into {@link token}. */
export interface TokenCommandDeps {
  readonly fetch?: typeof fetch;
}

/** `token-broker token`: usage, flags and example (`--help`); its flags are the parser's options. */
export const TOKEN_COMMAND = defineCommand({
  name: 'token',
  usage: 'token <profile> [--subject S] [--scope S] [--min-ttl N] [--config F]',
  description:
    "One token for a profile as JSON on stdout, as the operator (the profile's callers are not checked;\nits subjects and scope are). One audit line per token on stderr, with the token's fingerprint only.",
  flags: {
    subject: {
      type: 'string',
      value: 'S',
      help: "the user the token acts for (default: the profile's subject)",
    },
    scope: { type: 'string', value: 'S', help: "the scope asked for (default: the profile's scope)" },
    'min-ttl': {
      type: 'string',
      value: 'N',
      help: 'seconds the token must still be valid for, else a fresh one is fetched (default 60)',
    },
    config: {
      type: 'string',
      value: 'F',
      help: 'the profiles file (default: $TOKEN_BROKER_CONFIG, else ./token-broker.yaml)',
    },
  },
  example: 'npx token-broker token docusign --subject jsmith@example.com --config token-broker.yaml',
});

const USAGE = TOKEN_COMMAND.usage;

interface TokenArgs {
  readonly profile: string;
  readonly subject: string | undefined;
  readonly scope: string | undefined;
  readonly minTtl: number | undefined;
  readonly config: string | undefined;
}

function readArgs(argv: readonly string[]): TokenArgs {
  const parsed = parseCliArgs(argv, TOKEN_COMMAND.flags, { usage: `usage: ${USAGE}` });
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
 * With `cache.store: dynamodb` it uses the shared table like the service (a token there is
 * served, a new one is stored, the lease is honoured), and it writes the service's audit
 * line (`token issued`, by fingerprint) and any warning as JSON lines on stderr.
 *
 * Errors: one line on stderr; exit 1 (2 for usage and configuration mistakes).
 */
export async function token(
  argv: readonly string[],
  io: CliIo,
  deps: TokenCommandDeps = {},
): Promise<number> {
  try {
    const args = readArgs(argv);
    const config = await loadConfig({ path: args.config, env: io.env, cwd: io.cwd });
    const secrets = createSecretResolver({ env: io.env, cwd: dirname(config.source) });
    // The audit line of a CLI-issued token and any warning, as JSON lines on stderr (stdout holds the token).
    const logger = createJsonLogger({ write: io.stderr, level: 'INFO' });
    const sharedStore =
      config.cache.store === 'memory'
        ? undefined
        : await (
            await import('../cache/shared-store-factory.ts')
          ).createSharedStore(config.cache, { secrets, logger });
    const broker = createBroker({
      config,
      secrets,
      logger,
      sharedStore,
      trustedCallerKinds: ['cli'],
      ...(deps.fetch && { fetch: deps.fetch }),
    });
    const issued = await broker.issue({
      profile: args.profile,
      subject: args.subject,
      scope: args.scope,
      minTtl: args.minTtl,
      caller: { id: 'cli', kind: 'cli' },
    });
    // As the HTTP answer: provider fields under their own names, the broker's own fields win a clash.
    const { fields, ...token } = issued;
    io.stdout(`${JSON.stringify({ ...fields, ...token }, null, 2)}\n`);
    return EXIT_OK;
  } catch (err) {
    return reportError(err, io);
  }
}
