import { BrokerError } from '../errors.ts';

/** Where a CLI command writes and reads; injected so tests capture output. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads all of standard input (for `--password-stdin`). */
  readonly readStdin: () => Promise<string>;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** A CLI command: returns the exit code (0 ok, 1 runtime failure, 2 usage or config error). */
export type CliCommand = (argv: readonly string[], io: CliIo) => Promise<number>;

/** A usage mistake: exit code 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes (DESIGN.md "CLI"). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const USAGE_CODES = new Set([
  'ERR_CONFIG',
  'ERR_CONFIG_NOT_FOUND',
  'ERR_CONNECTION_STRING',
  'ERR_AUTH_METHOD',
]);

/**
 * Turns an error into one line on stderr and an exit code. Never prints a stack trace:
 * unexpected errors print their class name only, since their message may carry anything.
 */
export function reportError(err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr(`token-broker: ${err.message} (see --help)\n`);
    return EXIT_USAGE;
  }
  if (err instanceof BrokerError) {
    io.stderr(`token-broker: ${err.code}: ${err.message}\n`);
    return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  }
  const name = err instanceof Error ? err.name : typeof err;
  io.stderr(`token-broker: unexpected ${name}; run with TOKEN_BROKER_DEBUG=1 for details\n`);
  return EXIT_FAILURE;
}

/**
 * A reader that closed standard output early (`token-broker check | head -2`) has all it
 * wanted: end quietly, as Unix tools do, instead of a stack trace for the EPIPE.
 */
const quieted = new WeakSet<NodeJS.WriteStream>();
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  if (quieted.has(stream)) return;
  quieted.add(stream);
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    throw err;
  });
}

/** The process's own IO. */
export function processIo(): CliIo {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Uint8Array));
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    cwd: process.cwd(),
  };
}
