/**
 * docs/migrate-from-datadirect.md, run as a reader would: every block marked
 * `<!-- runs: sh -->` (or `runs: sh, fails`, which must exit non-zero) is run with bash,
 * in order, and every `<!-- writes: NAME -->` block is written to NAME, in a fresh copy of
 * the repository (its files, node_modules as hard links) holding the reader's keystore.
 * The blocks that need an AWS account are not marked.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { ROOT } from '../support/osls-package.ts';

const PAGE = 'docs/migrate-from-datadirect.md';

/** One marked block of the page, in order. */
export type Step =
  | { readonly kind: 'run'; readonly script: string; readonly fails: boolean }
  | { readonly kind: 'write'; readonly file: string; readonly text: string };

/** The marked blocks of a page. */
export function stepsOf(markdown: string): Step[] {
  const steps: Step[] = [];
  const marked = /<!-- (runs: sh(, fails)?|writes: ([^ ]+)) -->\n```[a-z]*\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(marked)) {
    steps.push(
      m[3] === undefined
        ? { kind: 'run', script: m[4]!, fails: m[2] !== undefined }
        : { kind: 'write', file: m[3], text: `${m[4]!}\n` },
    );
  }
  return steps;
}

/** A copy of the repository's tracked (and new, unignored) files, with its installed modules. */
function copyOfRepository(): string {
  const copy = mkdtempSync(join(tmpdir(), 'tb-migrate-'));
  const listed = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  for (const file of listed.stdout.split('\0').filter(Boolean)) {
    const from = join(ROOT, file);
    try {
      mkdirSync(dirname(join(copy, file)), { recursive: true });
      copyFileSync(from, join(copy, file));
    } catch {
      // deleted in the working tree but not yet in the index
    }
  }
  // Hard links (a copy where they cannot be made): npm in the copy may rewrite its own
  // node_modules, which must never reach this checkout's (a symlink made npm reinstall
  // through it).
  for (const modules of ['node_modules', 'test/lambda-node/node_modules']) {
    const linked = spawnSync('cp', ['-al', join(ROOT, modules), join(copy, modules)]);
    if (linked.status !== 0) spawnSync('cp', ['-a', join(ROOT, modules), join(copy, modules)]);
  }
  return copy;
}

const TITLE = `${PAGE}, every command that needs no AWS account`;

if (!skipWithoutLambdaNode(TITLE))
  describe(TITLE, () => {
    let copy: string;
    beforeAll(() => {
      copy = copyOfRepository();
      // The reader's keystore: a keytool JKS, under the name the connection uses.
      copyFileSync(join(KEYSTORE_FIXTURES, 'java-rsa2048.jks'), join(copy, 'jwtcert.jks'));
    });
    afterAll(() => rmSync(copy, { recursive: true, force: true }));

    it('runs in order: import, check --deployed (fails, then ok), keystore inspect, rehearse', () => {
      const steps = stepsOf(readFileSync(join(ROOT, PAGE), 'utf8'));
      expect(
        steps.map((s) =>
          s.kind === 'write' ? `write ${s.file}` : s.script.split(' ').slice(0, 3).join(' '),
        ),
      ).toEqual([
        'npx token-broker import',
        'write odbc.ini',
        'npx token-broker import',
        'npx token-broker check',
        'KEYSTORE_PASSWORD=changeit npx token-broker',
        "printf '%s' 'changeit'",
        'write token-broker.yaml',
        'npx token-broker check',
        'npm run rehearse',
      ]);
      const outputs: string[] = [];
      for (const step of steps) {
        if (step.kind === 'write') {
          writeFileSync(join(copy, step.file), step.text);
          continue;
        }
        const run = spawnSync('bash', ['-eo', 'pipefail', '-c', step.script], {
          cwd: copy,
          encoding: 'utf8',
          timeout: 300_000,
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            HOME: copy,
            CI: process.env['CI'] ?? '',
            SLS_TELEMETRY_DISABLED: '1',
            npm_config_update_notifier: 'false',
          },
        });
        const said = `${step.script}\n--- exit ${run.status}\n${run.stdout}${run.stderr}`;
        if (step.fails) expect(run.status, said).not.toBe(0);
        else expect(run.status, said).toBe(0);
        outputs.push(run.stdout);
      }
      const [imported, fromIni, deployedBefore, inspected, , deployedAfter, rehearsed] = outputs;
      expect(imported).toBe('');
      expect(readFileSync(join(copy, 'imported.yaml'), 'utf8')).toContain('certStore: file:jwtcert.jks');
      expect(fromIni).toBe('');
      expect(deployedBefore).toContain('deployed: FAILED (5 problems)');
      expect(inspected).toMatch(/RSA 2048/);
      expect(deployedAfter).toContain('deployed: ok');
      expect(rehearsed).toMatch(/\ndocusign +ok +ok +ok +ok +-\n/);
      expect(rehearsed).toContain('rehearse: every profile ok');
      expect(outputs.join('\n')).not.toContain('changeit');
    }, 600_000);
  });
