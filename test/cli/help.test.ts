/**
 * A CLI that teaches: every command's `--help` lists each flag its parser accepts on one
 * line, with one example, and docs/cli.md's section for the command lists the same flags.
 * The commands come from main.ts's table, so a command added there is covered at once.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandSpec, type CommandSpec } from '../../lib/cli/args.ts';
import { commandNames, main } from '../../lib/cli/main.ts';
import { captureIo } from '../support/cli-io.ts';

const CLI = 'lib/cli';
const DOCS = readFileSync('docs/cli.md', 'utf8');

/** `token-broker <name> --help`, and the spec the command's module declared. */
async function helpOf(name: string): Promise<{ text: string; spec: CommandSpec | undefined }> {
  const c = captureIo();
  expect(await main([name, '--help'], c.io)).toBe(0);
  expect(c.stderr()).toBe('');
  return { text: c.stdout(), spec: commandSpec(name) };
}

/** The flags of the help's `Flags:` block, one per line. */
function helpFlags(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf('Flags:');
  if (start === -1) return [];
  const block = lines.slice(start + 1, lines.indexOf('', start));
  return block.map((line) => /^ {2}--([a-z][a-z0-9-]*)\b/.exec(line)?.[1] ?? `unreadable line: ${line}`);
}

/** docs/cli.md's section `## \`token-broker <name>\``, up to the next `## `. */
function docSection(name: string): string {
  const start = DOCS.search(new RegExp(`^## \`token-broker ${name}\\b`, 'm'));
  if (start === -1) return '';
  const next = DOCS.slice(start + 3).search(/^## /m);
  return next === -1 ? DOCS.slice(start) : DOCS.slice(start, start + 3 + next);
}

/** The flags of a docs section's flag table (rows that start with `| \`--flag`). */
function docFlags(section: string): string[] {
  return [...section.matchAll(/^\| `--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!);
}

const sorted = (names: Iterable<string>) => [...names].sort();

describe('token-broker <command> --help and docs/cli.md', () => {
  it('knows the commands of main.ts', () => {
    expect(commandNames()).toEqual(expect.arrayContaining(['serve', 'demo', 'token', 'check', 'kms']));
  });

  it.each(commandNames())(
    '%s: --help lists every flag its parser takes, one line each, and one example',
    async (name) => {
      const { text, spec } = await helpOf(name);
      // A command without a spec prints only a usage line: declare one with defineCommand.
      expect(spec, `lib/cli: ${name} declares no defineCommand spec`).toBeDefined();
      expect(text.startsWith(`Usage: token-broker ${name}`)).toBe(true);
      expect(sorted(helpFlags(text))).toEqual(sorted(Object.keys(spec!.flags)));
      for (const [flag, { help }] of Object.entries(spec!.flags)) {
        expect(help.length, `--${flag} has no help line`).toBeGreaterThan(10);
        expect(help).not.toContain('\n');
      }
      const examples = text.split('\n').filter((_line, i, all) => all[i - 1] === 'Example:');
      expect(examples).toHaveLength(1);
      expect(examples[0]).toMatch(new RegExp(`^ {2}npx token-broker ${name}\\b`));
      expect(text.match(/^Example:$/gm)).toHaveLength(1);
    },
  );

  it.each(commandNames())(
    '%s: docs/cli.md has its section with the same flags and an example',
    async (name) => {
      const { spec } = await helpOf(name);
      const section = docSection(name);
      expect(section, `docs/cli.md has no "## \`token-broker ${name}\`" section`).not.toBe('');
      expect(sorted(docFlags(section))).toEqual(sorted(Object.keys(spec!.flags)));
      expect(section).toContain(`npx token-broker ${name}`);
    },
  );

  it('every parser of lib/cli takes its options from a declared spec', () => {
    const calls = readdirSync(CLI)
      .filter((file) => file.endsWith('.ts') && file !== 'args.ts')
      .flatMap((file) => {
        const text = readFileSync(join(CLI, file), 'utf8');
        const direct = /\bparseArgs\b/.test(text) ? [`${file}: parseArgs of node:util directly`] : [];
        const inline = [...text.matchAll(/parseCliArgs\(\s*[\w.[\]]+,\s*([^,)]+)/g)]
          .map((m) => m[1]!.trim())
          .filter((options) => !/^[A-Z][A-Z0-9_]*_COMMAND\.flags$/.test(options))
          .map((options) => `${file}: parseCliArgs with ${options}`);
        return [...direct, ...inline];
      });
    expect(calls).toEqual([]);
  });

  it('the top-level help lists each command on one line', async () => {
    const c = captureIo();
    expect(await main(['--help'], c.io)).toBe(0);
    for (const name of commandNames()) {
      expect(
        c
          .stdout()
          .split('\n')
          .filter((line) => line.startsWith(`  token-broker ${name}`)),
      ).toHaveLength(1);
    }
  });
});
