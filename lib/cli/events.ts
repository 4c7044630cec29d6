/**
 * `token-broker events [--file F] [--follow] [--profile P] [--type T] [--json]`: the events
 * the local server and `demo` write as JSON lines (`--events F`, `TOKEN_BROKER_EVENTS_FILE`),
 * one line each, filtered by profile and detail type; `--follow` keeps printing new ones
 * until Ctrl-C, as `tail -f` does.
 */
import { open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { parseEventLine, type EventFilter } from '../events/json-lines.ts';
import type { DeliveredEvent } from '../events/schema.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { EXIT_OK, UsageError, type CliIo } from './io.ts';

/** How often `--follow` looks for new lines, milliseconds. */
export const FOLLOW_POLL_MS = 250;

/** Bytes read from the file at a time, however much was appended. */
const CHUNK_BYTES = 64 * 1024;

/**
 * The longest line kept, characters. EventBridge takes no entry past 256 KB, so a longer
 * line is no event: it is skipped without being held whole.
 */
export const MAX_LINE_CHARS = 256 * 1024;

/** `token-broker events`: usage, flags and example (`--help`); its flags are the parser's options. */
export const EVENTS_COMMAND = defineCommand({
  name: 'events',
  usage: 'events [--file F] [--follow] [--profile P] [--type T] [--json]',
  description:
    'Shows the events that serve and demo write with --events F (the lines EventBridge would deliver):\none line each, oldest first; --follow keeps printing new ones until Ctrl-C.',
  flags: {
    file: {
      type: 'string',
      value: 'F',
      help: 'the events file (default: $TOKEN_BROKER_EVENTS_FILE)',
    },
    follow: { type: 'boolean', help: 'keep printing events as they are written, until Ctrl-C' },
    profile: { type: 'string', value: 'P', help: "only this profile's events" },
    type: {
      type: 'string',
      value: 'T',
      help: 'only this detail type, e.g. "Key Rejected" or key-rejected',
    },
    json: { type: 'boolean', help: 'print each event as its JSON line (for jq or a rule pattern)' },
  },
  example: 'npx token-broker events --file events.jsonl --follow --profile billing',
});

/** What {@link showEvents} reads and prints. */
export interface ShowEventsOptions {
  readonly file: string;
  readonly follow: boolean;
  readonly filter: EventFilter;
  readonly json: boolean;
  /** With `follow`: stops following once settled. */
  readonly stop?: Promise<unknown>;
  /** Default {@link FOLLOW_POLL_MS}. */
  readonly pollMs?: number;
}

/** One event for people: time, type, profile, then the other detail fields as `name=value`. */
export function eventLine(event: DeliveredEvent): string {
  const { schemaVersion: _version, profile, at: _at, ...rest } = event.detail;
  const fields = Object.entries(rest).map(([name, value]) => `${name}=${String(value)}`);
  return [event.time, event['detail-type'], profile, ...fields].join('  ');
}

async function size(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The bytes of `file` from `offset` to `end`, in chunks of at most {@link CHUNK_BYTES}. */
async function* readFrom(file: string, offset: number, end: number): AsyncGenerator<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(Math.min(CHUNK_BYTES, end - offset));
    for (let at = offset; at < end;) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, end - at), at);
      if (bytesRead === 0) return;
      at += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Splits text fed in pieces into lines, holding at most {@link MAX_LINE_CHARS} of an unfinished one. */
class LineSplitter {
  private decoder = new StringDecoder('utf8');
  private partial = '';
  /** The unfinished line grew past the limit: its rest, up to the next newline, is dropped. */
  private overlong = false;

  constructor(private readonly each: (line: string) => void) {}

  push(bytes: Buffer): void {
    const lines = (this.partial + this.decoder.write(bytes)).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (this.overlong) this.overlong = false;
      else this.each(line);
    }
    if (this.partial.length > MAX_LINE_CHARS) [this.partial, this.overlong] = ['', true];
  }

  /** The last line, unfinished by a newline. */
  end(): void {
    const last = this.partial + this.decoder.end();
    if (!this.overlong && last.length <= MAX_LINE_CHARS) this.each(last);
  }
}

/**
 * Prints the events of `options.file` that pass the filter and, with `follow`, those
 * written later until `stop` settles. A file that is not there yet is waited for when
 * following. The file is read in chunks and a line past {@link MAX_LINE_CHARS} is skipped,
 * so memory stays bounded whatever the file holds.
 *
 * @throws UsageError when the file does not exist and `follow` is not set.
 */
export async function showEvents(options: ShowEventsOptions, io: CliIo): Promise<void> {
  const print = (line: string): void => {
    const event = parseEventLine(line, options.filter);
    if (event !== undefined) io.stdout(`${options.json ? JSON.stringify(event) : eventLine(event)}\n`);
  };
  let stopped = false;
  void options.stop?.then(() => (stopped = true));
  let offset = 0;
  let lines = new LineSplitter(print);
  for (;;) {
    const end = await size(options.file);
    if (end === undefined && !options.follow)
      throw new UsageError(
        `no events file at ${options.file}; start serve or demo with --events ${options.file}, or name another with --file`,
      );
    // A file truncated or replaced starts over.
    if (end !== undefined && end < offset) [offset, lines] = [0, new LineSplitter(print)];
    if (end !== undefined && end > offset)
      for await (const chunk of readFrom(options.file, offset, end)) {
        offset += chunk.length;
        lines.push(chunk);
      }
    if (!options.follow || stopped) break;
    await Promise.race([
      new Promise((resolve) => setTimeout(resolve, options.pollMs ?? FOLLOW_POLL_MS)),
      options.stop,
    ]);
  }
  if (!options.follow) lines.end();
}

/** Resolves at Ctrl-C (SIGINT) or SIGTERM. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * Runs `token-broker events`.
 * @throws UsageError for bad flags, no file named, or a file that is not there
 */
export async function events(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: args } = parseCliArgs(argv, EVENTS_COMMAND.flags, {
    positionals: false,
    usage: EVENTS_COMMAND.usage,
  });
  const file = args.file ?? io.env['TOKEN_BROKER_EVENTS_FILE'];
  if (file === undefined || file === '' || file === '-')
    throw new UsageError(
      'name the events file with --file F (or TOKEN_BROKER_EVENTS_FILE): the one serve or demo writes with --events F',
    );
  const follow = args.follow ?? false;
  await showEvents(
    {
      file,
      follow,
      filter: { profile: args.profile, type: args.type },
      json: args.json ?? false,
      ...(follow && { stop: untilInterrupted() }),
    },
    io,
  );
  return EXIT_OK;
}
