/**
 * The documentation (README.md and docs/*.md) holds together: every relative link points
 * at a file that exists and, with `#anchor`, at a heading that page has; every docs page
 * is listed in the README's table of contents.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => join('docs', f))];

/** Text outside fenced code blocks. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(page: string): Set<string> {
  const text = prose(readFileSync(join(ROOT, page), 'utf8'));
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('documentation', () => {
  it('has only relative links that resolve to a file and, with #anchor, to a heading', () => {
    const broken: string[] = [];
    let links = 0;
    for (const page of PAGES) {
      const text = prose(readFileSync(join(ROOT, page), 'utf8'));
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue;
        links++;
        const [path, hash] = target!.split('#') as [string, string | undefined];
        const file = path === '' ? page : normalize(join(dirname(page), path));
        if (!existsSync(join(ROOT, file))) broken.push(`${page}: ${target} (no ${file})`);
        else if (hash !== undefined && file.endsWith('.md') && !anchorsOf(file).has(hash))
          broken.push(`${page}: ${target} (no heading #${hash} in ${file})`);
      }
    }
    expect(links).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });

  it('lists every docs page in the README table of contents, and each page links back', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const page of PAGES.filter((p) => p !== 'README.md')) {
      expect(readme, page).toContain(`](${relative(ROOT, join(ROOT, page))})`);
      expect(readFileSync(join(ROOT, page), 'utf8'), page).toContain('](../README.md#documentation)');
    }
  });
});
