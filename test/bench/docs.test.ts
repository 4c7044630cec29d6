import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DOCS_END, DOCS_START, readResults, renderDocs, type Results } from '../../bench/results.ts';

const RESULTS = fileURLToPath(new URL('../../bench/results.json', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/performance.md', import.meta.url));

/** The table line of a row in docs/performance.md, split into its cells. */
function cells(markdown: string, id: string): string[] | undefined {
  const line = markdown.split('\n').find((l) => l.startsWith(`| ${id} |`));
  return line
    ?.split('|')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('docs/performance.md and bench/results.json', () => {
  it('the document holds exactly the table generated from the recorded results', async () => {
    const [docs, results] = await Promise.all([readFile(DOCS, 'utf8'), readResults(RESULTS)]);
    expect(docs).toContain(DOCS_START);
    expect(docs).toContain(DOCS_END);
    // `npm run bench -- --write-docs` brings the document back in line with the file.
    expect(renderDocs(docs, results)).toBe(docs);
  });

  it('shows P4-jceks with its recorded goal and verdict, and P4-bks', async () => {
    const [docs, results] = await Promise.all([readFile(DOCS, 'utf8'), readResults(RESULTS)]);
    const jceks = results.rows.find((r) => r.id === 'P4-jceks');
    expect(jceks).toBeDefined();
    const row = cells(docs, 'P4-jceks');
    expect(row?.[5]).toBe(jceks!.goal);
    expect(row?.[6]).toBe(jceks!.pass ? 'yes' : '**no**');
    expect(results.rows.some((r) => r.id === 'P4-bks')).toBe(true);
    expect(cells(docs, 'P4-bks')).toBeDefined();
  });

  it('names the run each row came from: date, commit and load', async () => {
    const [docs, results] = await Promise.all([readFile(DOCS, 'utf8'), readResults(RESULTS)]);
    const runs = results.runs.filter((run) => results.rows.some((r) => r.run === run.date));
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(docs).toContain(`${run.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${run.commit}\``);
      expect(docs).toContain(`load average ${run.load[0].toFixed(1)} at the start`);
    }
  });

  it('a result that changes makes the generated document differ', async () => {
    const [docs, results] = await Promise.all([readFile(DOCS, 'utf8'), readResults(RESULTS)]);
    const flipped: Results = {
      ...results,
      rows: results.rows.map((r) => (r.id === 'P4-jceks' ? { ...r, pass: !r.pass } : r)),
    };
    const rendered = renderDocs(docs, flipped);
    expect(rendered).not.toBe(docs);
    expect(cells(rendered, 'P4-jceks')?.[6]).not.toBe(cells(docs, 'P4-jceks')?.[6]);
    expect(() => renderDocs('# no markers\n', results)).toThrow(/bench results markers/);
  });
});
