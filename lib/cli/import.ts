import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseConnectionString } from '../config/connection-string.ts';
import { importDataDirect, importedYaml } from '../config/datadirect.ts';
import { readOdbcIniSection } from '../config/odbc-ini.ts';
import { parseConfig } from '../config/parse.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

/** `token-broker import`: usage, flags and example (`--help`); its flags are the parser's options. */
export const IMPORT_COMMAND = defineCommand({
  name: 'import',
  usage:
    'import datadirect <connection-string | -> | --odbc-ini F --dsn NAME [--profile NAME] [--include-secrets]',
  description:
    'A Progress DataDirect connection string (AuthenticationMethod=55) or odbc.ini DSN as a profile, YAML on\nstdout; notes on stderr. A connection string of - is read from standard input (keeps passwords out of ps).',
  flags: {
    'odbc-ini': { type: 'string', value: 'F', help: 'read the connection settings from this odbc.ini file' },
    dsn: {
      type: 'string',
      value: 'NAME',
      help: 'the odbc.ini section (data source name) to read; needs --odbc-ini',
    },
    profile: {
      type: 'string',
      value: 'NAME',
      help: 'the profile name to write (default: from the connection)',
    },
    'include-secrets': {
      type: 'boolean',
      default: false,
      help: 'write the secrets into the YAML instead of secret references to fill in',
    },
  },
  example: 'npx token-broker import datadirect - --profile docusign < connection.txt',
});

const USAGE = IMPORT_COMMAND.usage;

function readArgs(argv: readonly string[]) {
  const { values, positionals } = parseCliArgs(argv, IMPORT_COMMAND.flags, {
    usage: `usage: token-broker ${USAGE}`,
  });
  const [kind, connectionString, ...extra] = positionals;
  if (kind !== 'datadirect') throw new UsageError(`usage: token-broker ${USAGE}`);
  if (extra.length > 0) throw new UsageError('give one connection string (quote it)');
  const odbcIni = values['odbc-ini'];
  if ((connectionString === undefined) === (odbcIni === undefined)) {
    throw new UsageError(`give a connection string or --odbc-ini F --dsn NAME; usage: token-broker ${USAGE}`);
  }
  if (odbcIni !== undefined && values.dsn === undefined) throw new UsageError('--odbc-ini needs --dsn NAME');
  return {
    connectionString,
    odbcIni,
    dsn: values.dsn,
    profile: values.profile,
    includeSecrets: values['include-secrets'],
  };
}

/**
 * `token-broker import datadirect …`: prints a profile as YAML on stdout, notes on stderr.
 * A connection string of `-` is read from standard input (keeps passwords out of `ps`).
 *
 * @throws ConfigError `ERR_CONNECTION_STRING`, `ERR_AUTH_METHOD`; UsageError for bad arguments.
 */
export async function importCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = readArgs(argv);
  let options;
  if (args.odbcIni !== undefined) {
    const path = isAbsolute(args.odbcIni) ? args.odbcIni : resolve(io.cwd, args.odbcIni);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new UsageError(`cannot read --odbc-ini ${path}`);
    }
    options = readOdbcIniSection(text, args.dsn!);
  } else {
    const written = args.connectionString === '-' ? await io.readStdin() : args.connectionString!;
    options = parseConnectionString(written);
  }
  const result = importDataDirect(options, {
    profile: args.profile,
    dsn: args.dsn,
    includeSecrets: args.includeSecrets,
  });
  const yaml = importedYaml(result);
  const config = parseConfig(yaml, 'imported profile');
  for (const note of [...result.notes, ...(config.warnings ?? [])]) io.stderr(`note: ${note}\n`);
  io.stdout(yaml);
  return EXIT_OK;
}
