/**
 * Command-line argument parsing shared by every `token-broker` command: node:util's
 * `parseArgs` in strict mode, with its errors turned into one-line usage errors.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './io.ts';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** How {@link parseCliArgs} treats positionals and what it appends to a usage error. */
export interface CliArgsOptions {
  /** Appended to an error as `; <usage>` so the user sees the right form. */
  readonly usage?: string;
  /** Whether positionals are allowed (default true); when false, one is a usage error. */
  readonly positionals?: boolean;
}

/**
 * Parses `argv` against `options` (strict: unknown options and missing values are errors).
 * node:util's messages name the option, never a value given to it, so passwords passed
 * as `--password P` cannot reach stderr through a parse error.
 * @throws UsageError with the first line of node:util's message (plus `; <usage>`).
 */
export function parseCliArgs<const T extends OptionsConfig>(
  argv: readonly string[],
  options: T,
  { usage, positionals = true }: CliArgsOptions = {},
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals: positionals, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0]! : 'invalid arguments';
    throw new UsageError(usage === undefined ? message : `${message}; ${usage}`);
  }
}
