import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseConnectionString } from '../config/connection-string.ts';
import { importDataDirect, importedYaml } from '../config/datadirect.ts';
import { readOdbcIniSection } from '../config/odbc-ini.ts';
import { parseConfig } from '../config/parse.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

const USAGE =
  'import datadirect <connection-string | -> | --odbc-ini F --dsn NAME [--profile NAME] [--include-secrets]';

interface ImportArgs {
  connectionString: string | undefined;
  odbcIni: string | undefined;
  dsn: string | undefined;
  profile: string | undefined;
  includeSecrets: boolean;
}

function parseArgs(argv: readonly string[]): ImportArgs {
  const [kind, ...rest] = argv;
  if (kind !== 'datadirect') throw new UsageError(`usage: token-broker ${USAGE}`);
  const args: ImportArgs = {
    connectionString: undefined,
    odbcIni: undefined,
    dsn: undefined,
    profile: undefined,
    includeSecrets: false,
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const value = () => {
      const next = rest[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    if (arg === '--odbc-ini') args.odbcIni = value();
    else if (arg === '--dsn') args.dsn = value();
    else if (arg === '--profile') args.profile = value();
    else if (arg === '--include-secrets') args.includeSecrets = true;
    else if (arg.startsWith('--'))
      throw new UsageError(`unknown option ${arg}; usage: token-broker ${USAGE}`);
    else if (args.connectionString === undefined) args.connectionString = arg;
    else throw new UsageError('give one connection string (quote it)');
  }
  if ((args.connectionString === undefined) === (args.odbcIni === undefined)) {
    throw new UsageError(`give a connection string or --odbc-ini F --dsn NAME; usage: token-broker ${USAGE}`);
  }
  if (args.odbcIni !== undefined && args.dsn === undefined)
    throw new UsageError('--odbc-ini needs --dsn NAME');
  return args;
}

/**
 * `token-broker import datadirect …`: prints a profile as YAML on stdout, notes on stderr.
 * A connection string of `-` is read from standard input (keeps passwords out of `ps`).
 *
 * @throws ConfigError `ERR_CONNECTION_STRING`, `ERR_AUTH_METHOD`; UsageError for bad arguments.
 */
export async function importCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseArgs(argv);
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
