import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GUARD_FLOORS, guard, guardLimit, ratioGoal } from '../../bench/guard.ts';
import { readResults, type Row } from '../../bench/results.ts';

const RESULTS = fileURLToPath(new URL('../../bench/results.json', import.meta.url));

function row(id: string, goal: string, ratio: number | null): Row {
  return {
    id,
    name: id,
    value: ratio,
    unit: 'µs',
    baseline: ratio === null ? null : 1,
    ratio,
    goal,
    pass: false,
    min: null,
    median: null,
    p99: null,
    runs: 1,
    note: '',
  };
}

describe('bench regression guard', () => {
  it('reads the ratio goal a goal text starts with, and nothing from other goals', () => {
    expect(ratioGoal('≤ 1.3x median, ≤ 1.5x p99')).toEqual({ direction: 'max', x: 1.3 });
    expect(ratioGoal('≥ 0.7x')).toEqual({ direction: 'min', x: 0.7 });
    expect(ratioGoal('≤ 1.5x native MD5 floor')).toEqual({ direction: 'max', x: 1.5 });
    expect(ratioGoal('≤ 3 ms')).toBeUndefined();
    expect(ratioGoal('exactly 1')).toBeUndefined();
    expect(ratioGoal('≤ 600 KB (614400 bytes)')).toBeUndefined();
  });

  it('fails a row worse than twice its goal and names the row, its ratio, its goal and by how much', () => {
    const breaches = guard([
      row('P1', '≤ 1.3x median, ≤ 1.5x p99', 4.42),
      row('P2', '≤ 1.3x', 2.5),
      row('P8', '≥ 0.8x', 0.3),
    ]);
    expect(breaches.map((b) => b.id)).toEqual(['P1', 'P8']);
    const [p1, p8] = breaches;
    expect(p1!.limit).toBeCloseTo(2.6);
    expect(p1!.by).toBeCloseTo(4.42 / 2.6);
    expect(p1!.message).toBe(
      'P1: ratio 4.42x is worse than its guard ≤ 2.6x (twice the goal; goal ≤ 1.3x median, ≤ 1.5x p99) by 1.70x',
    );
    expect(p8!.limit).toBeCloseTo(0.4);
    expect(p8!.message).toContain('P8: ratio 0.30x is worse than its guard ≥ 0.4x');
  });

  it('passes a row at twice its goal, and leaves rows without a ratio or a ratio goal alone', () => {
    expect(guard([row('P2', '≤ 1.3x', 2.6)])).toEqual([]);
    expect(guard([row('P2', '≤ 1.3x', null)])).toEqual([]);
    expect(guard([row('P4-jks', '≤ 3 ms', 9)])).toEqual([]);
  });

  it('guards a row whose goal main does not meet yet at its measured floor instead', () => {
    const floors = {
      P6: { limit: 0.1, why: 'measured floor: test' },
      'P7-hit': { limit: 12, why: 'measured floor: test' },
    };
    expect(guardLimit(row('P6', '≥ 0.7x', 0.25), floors)).toMatchObject({ direction: 'min', limit: 0.1 });
    expect(guard([row('P6', '≥ 0.6x', 0.25), row('P7-hit', '≤ 4x', 10)], floors)).toEqual([]);
    expect(guard([row('P6', '≥ 0.7x', 0.05)], floors).map((b) => b.id)).toEqual(['P6']);
    const [hit] = guard([row('P7-hit', '≤ 4x', 60)], floors);
    expect(hit!.message).toMatch(
      /^P7-hit: ratio 60\.00x is worse than its guard ≤ 12x \(measured floor: test; goal ≤ 4x\) by 5\.00x$/,
    );
    expect(guard([row('P7-hit', '≤ 4x', 11.9)], floors)).toEqual([]);
    expect(guard([row('P7-hit', '≤ 4x', 12.5)], floors).map((b) => b.id)).toEqual(['P7-hit']);
  });

  it('guards P7-hit at twice its goal now that main meets it, and P6 at its floor', () => {
    expect(guardLimit(row('P7-hit', '≤ 4x', 2))).toEqual({
      direction: 'max',
      limit: 8,
      why: 'twice the goal',
    });
    expect(guard([row('P7-hit', '≤ 4x', 8.5)]).map((b) => b.id)).toEqual(['P7-hit']);
    expect(guardLimit(row('P6', '≥ 0.6x', 0.5))).toMatchObject({
      direction: 'min',
      limit: GUARD_FLOORS['P6']!.limit,
    });
    expect(guard([row('P6', '≥ 0.6x', 0.2)]).map((b) => b.id)).toEqual(['P6']);
  });

  it('passes on the recorded results of main', async () => {
    const { rows } = await readResults(RESULTS);
    expect(rows.some((r) => guardLimit(r) !== undefined && r.ratio !== null)).toBe(true);
    expect(guard(rows)).toEqual([]);
  });
});
