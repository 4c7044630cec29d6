import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { KeystoreError } from '../errors.ts';
import { printable } from '../keystore/text.ts';
import type { KeystoreEntry, KeystoreListing, KeystoreType } from '../keystore/types.ts';
import { defineCommand, helpText, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliCommand, type CliIo } from './io.ts';

/** `token-broker keystore`: usage, flags and example (`--help`); its flags are the parser's options. */
export const KEYSTORE_COMMAND = defineCommand({
  name: 'keystore',
  usage:
    'keystore inspect <file> [--password P | --password-env VAR | --password-stdin] [--key-password-env VAR] [--type T] [--alias A] [--json]',
  description:
    "Lists a keystore's entries: alias, kind, key algorithm and size, JWS algorithm, subject, issuer,\nnotAfter and x5t#S256. Passwords are never printed.",
  flags: {
    password: {
      type: 'string',
      value: 'P',
      help: 'store password (JKS/JCEKS/PKCS#12/BKS) or PEM passphrase',
    },
    'password-env': { type: 'string', value: 'VAR', help: 'read the password from environment variable VAR' },
    'password-stdin': { type: 'boolean', help: 'read the password from standard input' },
    'key-password-env': {
      type: 'string',
      value: 'VAR',
      help: 'the key password from environment variable VAR, when it differs from the store password',
    },
    type: {
      type: 'string',
      value: 'T',
      help: 'auto (default), jks, jceks, pkcs12, bks, pem, jwk, google-json',
    },
    alias: { type: 'string', value: 'A', help: 'show only this entry' },
    json: { type: 'boolean', help: 'JSON instead of a table' },
  },
  example: 'npx token-broker keystore inspect keystore.jks --password-env KEYSTORE_PASSWORD',
});

const USAGE = helpText(KEYSTORE_COMMAND);

const TYPES: readonly KeystoreType[] = ['auto', 'jks', 'jceks', 'pkcs12', 'bks', 'pem', 'jwk', 'google-json'];

interface InspectArgs {
  readonly file: string;
  readonly type: KeystoreType;
  readonly alias: string | undefined;
  readonly json: boolean;
  readonly password: string | undefined;
  readonly keyPassword: string | undefined;
}

/**
 * `token-broker keystore inspect <file>`: lists a keystore's entries as a table or JSON.
 * Passwords come from the command line, the environment or stdin and are never printed.
 *
 * @throws UsageError for argument mistakes (exit 2); KeystoreError codes for keystores
 *   that cannot be read (exit 1).
 */
export const keystore: CliCommand = async (argv, io) => {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  if (command !== 'inspect')
    throw new UsageError(
      command === undefined
        ? 'keystore needs a command: keystore inspect <file>'
        : `unknown keystore command '${command}'; use: keystore inspect <file>`,
    );
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(USAGE);
    return EXIT_OK;
  }
  const args = await inspectArgs(rest, io);
  let bytes: Buffer;
  try {
    bytes = await readFile(resolve(io.cwd, args.file));
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read';
    throw new KeystoreError('ERR_KEYSTORE_FORMAT', `keystore file '${args.file}': ${reason}`, { cause });
  }
  const { listKeystore } = await import('../keystore/index.ts');
  const listing = await listKeystore(bytes, {
    type: args.type,
    ...(args.password === undefined ? {} : { password: args.password }),
    ...(args.keyPassword === undefined ? {} : { keyPassword: args.keyPassword }),
  }).catch((err: unknown) => {
    throw inCommandTerms(err);
  });
  const entries = args.alias === undefined ? listing.entries : chosen(listing, args.alias);
  if (args.json) io.stdout(`${JSON.stringify(toJson(listing, entries), null, 2)}\n`);
  else {
    io.stdout(table(listing, entries));
    for (const warning of listing.warnings) io.stderr(`warning: ${warning}\n`);
  }
  return EXIT_OK;
};

/**
 * A keystore error says what to fix in a profile (`certPassword`, `keyPassword`); here the
 * fix is a flag of this command.
 */
function inCommandTerms(err: unknown): unknown {
  if (!(err instanceof KeystoreError)) return err;
  const message = err.message
    .replace(/\bcertPassword\b/g, '--password')
    .replace(/\bkeyPassword\b/g, '--key-password-env');
  return message === err.message ? err : new KeystoreError(err.code, message, { cause: err });
}

async function inspectArgs(argv: readonly string[], io: CliIo): Promise<InspectArgs> {
  const parsed = parseCliArgs(argv, KEYSTORE_COMMAND.flags);
  const { values, positionals } = parsed;
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0 ? 'keystore inspect needs a keystore file' : 'keystore inspect takes one file',
    );
  const type = (values.type ?? 'auto') as KeystoreType;
  if (!TYPES.includes(type)) throw new UsageError(`--type must be one of ${TYPES.join(', ')}`);
  const sources = [
    values.password !== undefined,
    values['password-env'] !== undefined,
    values['password-stdin'],
  ];
  if (sources.filter(Boolean).length > 1)
    throw new UsageError('give the password one way: --password, --password-env or --password-stdin');
  let password = values.password;
  if (values['password-env'] !== undefined) password = fromEnv(io, values['password-env'], '--password-env');
  if (values['password-stdin']) password = (await io.readStdin()).replace(/\r?\n$/, '');
  const keyPassword =
    values['key-password-env'] === undefined
      ? undefined
      : fromEnv(io, values['key-password-env'], '--key-password-env');
  return {
    file: positionals[0]!,
    type,
    alias: values.alias,
    json: values.json === true,
    password,
    keyPassword,
  };
}

function fromEnv(io: CliIo, name: string, option: string): string {
  const value = io.env[name];
  if (value === undefined) throw new UsageError(`${option}: environment variable ${name} is not set`);
  return value;
}

function chosen(listing: KeystoreListing, alias: string): readonly KeystoreEntry[] {
  const wanted = alias.toLowerCase();
  const found = listing.entries.filter((entry) => entry.alias.toLowerCase() === wanted);
  if (found.length === 0)
    throw new KeystoreError(
      'ERR_ALIAS_NOT_FOUND',
      `alias '${printable(alias)}' not found; aliases: ${listing.entries.map((e) => printable(e.alias)).join(', ')}`,
    );
  return found;
}

function toJson(listing: KeystoreListing, entries: readonly KeystoreEntry[]) {
  return {
    format: listing.format,
    entries: entries.map((entry) => ({
      alias: entry.alias,
      kind: entry.kind,
      keyAlgorithm: entry.keyAlgorithm ?? null,
      keySize: entry.keySize ?? null,
      curve: entry.curve ?? null,
      jwsAlgorithm: entry.jwsAlgorithm ?? null,
      subject: entry.subject ?? null,
      issuer: entry.issuer ?? null,
      notBefore: entry.notBefore?.toISOString() ?? null,
      notAfter: entry.notAfter?.toISOString() ?? null,
      x5tS256: entry.x5tS256 ?? null,
      'x5t#S256': entry.x5tS256 ?? null,
    })),
    warnings: listing.warnings,
  };
}

function keyColumn(entry: KeystoreEntry): string {
  if (!entry.keyAlgorithm) return '-';
  if (entry.curve) return `${entry.keyAlgorithm} ${entry.curve}`;
  if (entry.keySize && entry.keyAlgorithm.startsWith('RSA')) return `${entry.keyAlgorithm} ${entry.keySize}`;
  return entry.keyAlgorithm;
}

function table(listing: KeystoreListing, entries: readonly KeystoreEntry[]): string {
  const header = ['ALIAS', 'KIND', 'KEY', 'JWS', 'SUBJECT', 'ISSUER', 'NOT AFTER', 'X5T#S256'];
  const rows = entries.map((entry) => [
    printable(entry.alias),
    entry.kind,
    keyColumn(entry),
    entry.jwsAlgorithm ?? '-',
    entry.subject ?? '-',
    entry.issuer ?? '-',
    entry.notAfter?.toISOString().slice(0, 10) ?? '-',
    entry.x5tS256 ?? '-',
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ');
  return [`format: ${listing.format}`, line(header), ...rows.map(line), ''].join('\n');
}
