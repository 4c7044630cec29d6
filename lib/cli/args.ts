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

/** One flag of a command: what node:util's `parseArgs` reads, plus its line of help. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly default?: string | boolean;
  /** The value's placeholder in help (`F`, `N`), for a string flag. */
  readonly value?: string;
  /** One line: what the flag does, and its default. */
  readonly help: string;
}

/** The flags of one command, by long name without the leading `--`. */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/**
 * Everything `token-broker <command> --help` prints, declared once beside the command's
 * parser: the parser takes `flags` as its options, so help and parser cannot disagree.
 */
export interface CommandSpec<F extends FlagSpecs = FlagSpecs> {
  /** The word after `token-broker` (the key of main.ts's command table). */
  readonly name: string;
  /** The usage line after `token-broker `. */
  readonly usage: string;
  /** What the command does: a line or a few. */
  readonly description: string;
  readonly flags: F;
  /** One command line to copy, `npx token-broker …`. */
  readonly example: string;
}

const SPECS = new Map<string, CommandSpec>();

/** Declares (and registers for `--help`) a command's usage, flags and example. */
export function defineCommand<const F extends FlagSpecs>(spec: CommandSpec<F>): CommandSpec<F> {
  SPECS.set(spec.name, spec);
  return spec;
}

/** The declared spec of a command whose module has been loaded, if it declared one. */
export function commandSpec(name: string): CommandSpec | undefined {
  return SPECS.get(name);
}

/** `token-broker <command> --help`: usage, description, one line per flag, one example. */
export function helpText(spec: CommandSpec): string {
  const heads = Object.entries(spec.flags).map(([name, flag]) =>
    flag.type === 'string' ? `--${name} ${flag.value ?? 'V'}` : `--${name}`,
  );
  const width = Math.max(0, ...heads.map((head) => head.length)) + 2;
  const flagLines = Object.values(spec.flags).map((flag, i) => `  ${heads[i]!.padEnd(width)}${flag.help}`);
  return [
    `Usage: token-broker ${spec.usage}`,
    '',
    spec.description,
    '',
    ...(flagLines.length > 0 ? ['Flags:', ...flagLines, ''] : []),
    'Example:',
    `  ${spec.example}`,
    '',
  ].join('\n');
}
