/**
 * docs/design.md is the contract the README points to, kept in step with the code: every
 * API error the HTTP error table can answer is in its error table under its status, every
 * command of the CLI is in its CLI table, and the names it must carry are there. The
 * README points to it, not to a file outside the repository. (test/docs.test.ts checks its
 * links with every other page's.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandNames } from '../../lib/cli/main.ts';
import { HTTP_ERRORS } from '../../lib/http/error-table.ts';

const DESIGN = readFileSync('docs/design.md', 'utf8');
const README = readFileSync('README.md', 'utf8');

/** The body of the section under `## <title>`, up to the next `## `. */
function section(title: string): string {
  const start = DESIGN.indexOf(`\n## ${title}\n`);
  if (start === -1) return '';
  const end = DESIGN.indexOf('\n## ', start + 4);
  return DESIGN.slice(start, end === -1 ? undefined : end);
}

describe('docs/design.md', () => {
  it('has the architecture, profile format, HTTP API and CLI sections', () => {
    for (const title of ['Architecture', 'Profile (YAML)', 'HTTP API', 'CLI', 'Deployment contract'])
      expect(section(title), title).not.toBe('');
  });

  it('lists every API error of the HTTP error table under its status', () => {
    const rows = section('HTTP API')
      .split('\n')
      .filter((line) => /^\| \d{3} \|/.test(line));
    const missing = Object.entries(HTTP_ERRORS)
      .filter(
        ([, { status, error }]) =>
          !rows.some((row) => row.startsWith(`| ${status} |`) && row.includes(`\`${error}\``)),
      )
      .map(([code, { status, error }]) => `${code}: ${status} ${error}`);
    expect(missing).toEqual([]);
  });

  it('lists every command of the CLI', () => {
    const cli = section('CLI');
    expect(commandNames().filter((name) => !cli.includes(`| \`${name}`))).toEqual([]);
  });

  it('carries the names the code has added to the contract', () => {
    for (const name of [
      'healthDeepCallers',
      'TOKEN_BROKER_HEALTH_DEEP_CALLERS',
      'CustomDomainTarget',
      'ConsentCallbackUrl',
      '--domain-name',
      'ERR_LISTEN',
      'ERR_DPOP_LIMIT',
      'key_unavailable',
      'DPoP-Nonce',
      'token-exchange',
      'tokenExchange',
      'npm run rehearse -- [--profiles F] [--stage S] [--secret NAME=FILE]...',
    ])
      expect(DESIGN, name).toContain(name);
  });

  it('is what the README points to for the contract', () => {
    expect(README).toContain('](docs/design.md)');
    expect(README).not.toMatch(/shared folder/i);
  });
});
