import type { CliIo } from '../../lib/cli/io.ts';

/** A {@link CliIo} that records what a command writes, for assertions. */
export interface CapturedIo {
  readonly io: CliIo;
  /** Each write to stdout, in order. */
  readonly out: string[];
  /** Each write to stderr, in order. */
  readonly err: string[];
  /** Everything written to stdout. */
  readonly stdout: () => string;
  /** Everything written to stderr. */
  readonly stderr: () => string;
}

/** A captured CliIo with the given environment, working directory and standard input. */
export function captureIo(
  options: { env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    readStdin: async () => options.stdin ?? '',
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  };
  return { io, out, err, stdout: () => out.join(''), stderr: () => err.join('') };
}
