import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseConnectionString } from '../config/connection-string.ts';
import { importDataDirect, importedYaml } from '../config/datadirect.ts';
import { readOdbcIniSection } from '../config/odbc-ini.ts';
import { parseConfig } from '../config/parse.ts';
import { parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

const USAGE =
  'import datadirect <connection-string | -> | --odbc-ini F --dsn NAME [--profile NAME] [--include-secrets]';

function readArgs(argv: readonly string[]) {
  const { values, positionals } = parseCliArgs(
    argv,
    {
      'odbc-ini': { type: 'string' },
      dsn: { type: 'string' },
      profile: { type: 'string' },
      'include-secrets': { type: 'boolean', default: false },
    },
    { usage: `usage: token-broker ${USAGE}` },
  );
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
