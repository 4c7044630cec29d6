import { EXIT_USAGE, processIo, reportError, type CliCommand, type CliIo } from './io.ts';

interface CommandEntry {
  readonly summary: string;
  /** Loaded on demand so each command pays only for its own modules. */
  readonly load: () => Promise<CliCommand>;
}

const COMMANDS: Readonly<Record<string, CommandEntry>> = {
  serve: {
    summary: 'serve [--config F] [--port N] [--host H]        the HTTP API on this machine',
    load: async () => (await import('./serve.ts')).serve,
  },
  demo: {
    summary:
      'demo [--port N]                                  local authorization server + broker on the demo config',
    load: async () => (await import('./demo.ts')).demo,
  },
  token: {
    summary: 'token <profile> [--subject S] [--scope S] [--min-ttl N] [--config F]   one token as JSON',
    load: async () => (await import('./token.ts')).token,
  },
  keystore: {
    summary:
      'keystore inspect <file> [--password P | --password-env VAR | --password-stdin] [--type T] [--alias A] [--json]',
    load: async () => (await import('./keystore.ts')).keystore,
  },
  import: {
    summary:
      'import datadirect <connection-string> | --odbc-ini F --dsn NAME [--profile NAME] [--include-secrets]',
    load: async () => (await import('./import.ts')).importCommand,
  },
  check: {
    summary: 'check [profile] [--config F] [--live] [--deployed] validate config, open keystores',
    load: async () => (await import('./check.ts')).check,
  },
  kms: {
    summary: 'kms certificate <key> --subject "CN=…" [--days N] [--csr]   a certificate signed by a KMS key',
    load: async () => (await import('./kms.ts')).kms,
  },
  'consent-url': {
    summary: 'consent-url <profile> --subject S [--config F]   the consent URL',
    load: async () => (await import('./consent-url.ts')).consentUrl,
  },
};

function help(): string {
  const lines = Object.values(COMMANDS).map((c) => `  token-broker ${c.summary}`);
  return [
    'token-broker: OAuth 2.0 JWT bearer token broker',
    '',
    'Usage:',
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
    io.stdout(`Usage: token-broker ${entry.summary}\n`);
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
