import { commandSpec, helpText } from './args.ts';
import { EXIT_USAGE, processIo, reportError, type CliCommand, type CliIo } from './io.ts';

interface CommandEntry {
  /** One line of the top-level help: the command's words, then what it does. */
  readonly summary: string;
  /** Loaded on demand so each command pays only for its own modules. */
  readonly load: () => Promise<CliCommand>;
}

const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  serve: {
    summary: 'serve                     the HTTP API on this machine (127.0.0.1:8787)',
    load: async () => (await import('./serve.ts')).serve,
  },
  demo: {
    summary: 'demo                      what npm start runs: a local authorization server and the broker',
    load: async () => (await import('./demo.ts')).demo,
  },
  token: {
    summary: 'token <profile>           one token as JSON on stdout',
    load: async () => (await import('./token.ts')).token,
  },
  keystore: {
    summary: "keystore inspect <file>   a keystore's entries (alias, algorithm, certificate)",
    load: async () => (await import('./keystore.ts')).keystore,
  },
  import: {
    summary: 'import datadirect …       a DataDirect connection string or DSN as a profile (YAML)',
    load: async () => (await import('./import.ts')).importCommand,
  },
  check: {
    summary:
      'check [profile]           validate the config and open every keystore (--deployed: as deployed)',
    load: async () => (await import('./check.ts')).check,
  },
  kms: {
    summary: 'kms certificate <key>     a certificate (or CSR) signed by a key held in AWS KMS',
    load: async () => (await import('./kms.ts')).kms,
  },
  'consent-url': {
    summary: "consent-url <profile>     the broker's consent URL for a subject",
    load: async () => (await import('./consent-url.ts')).consentUrl,
  },
  events: {
    summary: 'events [--follow]         the events serve and demo write with --events F, one line each',
    load: async () => (await import('./events.ts')).events,
  },
};

/** The command words, in the order the top-level help lists them. */
export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

function help(): string {
  const lines = Object.values(COMMANDS).map((c) => `  token-broker ${c.summary}`);
  return [
    'token-broker: OAuth 2.0 JWT bearer token broker',
    '',
    'Commands (token-broker <command> --help: its flags, one line each, and an example):',
    ...lines,
    '',
    'Config file: --config, else $TOKEN_BROKER_CONFIG, else ./token-broker.yaml',
    'Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.',
    '',
  ].join('\n');
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(help());
    return 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr(`token-broker: unknown command "${name}"; commands: ${Object.keys(COMMANDS).join(', ')}\n`);
    return EXIT_USAGE;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    // The command's module declares its flags, help lines and example beside its parser.
    await entry.load();
    const spec = commandSpec(name);
    io.stdout(spec ? helpText(spec) : `Usage: token-broker ${entry.summary}\n`);
    return 0;
  }
  try {
    const command = await entry.load();
    return await command(rest, io);
  } catch (err) {
    if (io.env['TOKEN_BROKER_DEBUG'] === '1' && err instanceof Error)
      io.stderr(`${err.stack ?? err.message}\n`);
    return reportError(err, io);
  }
}
