import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Lru } from '../../lib/cache/lru.ts';

/** The order of use kept the plain way: an array, least recent first. */
class ModelLru {
  readonly #entries: [string, number][] = [];
  constructor(readonly max: number) {}
  get(key: string): number | undefined {
    const at = this.#entries.findIndex(([k]) => k === key);
    if (at < 0) return undefined;
    const [entry] = this.#entries.splice(at, 1);
    this.#entries.push(entry!);
    return entry![1];
  }
  set(key: string, value: number): void {
    const at = this.#entries.findIndex(([k]) => k === key);
    if (at >= 0) this.#entries.splice(at, 1);
    this.#entries.push([key, value]);
    if (this.#entries.length > this.max) this.#entries.shift();
  }
  delete(key: string): boolean {
    const at = this.#entries.findIndex(([k]) => k === key);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    return true;
  }
}

type Op = readonly ['get' | 'delete', string] | readonly ['set', string, number];

describe('Lru', () => {
  it('forgets the least recently used entry when full', () => {
    const lru = new Lru<number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c')]).toEqual([1, undefined, 3]);
  });

  it('keeps a key read over and over while others come and go', () => {
    const lru = new Lru<number>(3);
    lru.set('hot', 0);
    for (let i = 0; i < 1000; i++) {
      expect(lru.get('hot')).toBe(0);
      lru.set(`cold-${i}`, i);
    }
    expect([lru.get('hot'), lru.get('cold-999'), lru.get('cold-998'), lru.get('cold-997')]).toEqual([
      0,
      999,
      998,
      undefined,
    ]);
  });

  it('rejects a size that is not a positive integer with a TypeError', () => {
    for (const size of [0, -1, 1.5, Number.NaN])
      expect(() => new Lru(size)).toThrow(new TypeError('maxEntries must be a positive integer'));
  });

  it('answers every get, set and delete as a list kept in order of use does', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.tuple(fc.constant('get' as const), key),
      fc.tuple(fc.constant('delete' as const), key),
      fc.tuple(fc.constant('set' as const), key, fc.integer()),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 120 }), (max, ops) => {
        const lru = new Lru<number>(max);
        const model = new ModelLru(max);
        for (const o of ops) {
          if (o[0] === 'set') {
            lru.set(o[1], o[2]);
            model.set(o[1], o[2]);
          } else if (o[0] === 'get') expect(lru.get(o[1])).toBe(model.get(o[1]));
          else expect(lru.delete(o[1])).toBe(model.delete(o[1]));
        }
        for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) expect(lru.get(k)).toBe(model.get(k));
      }),
      { numRuns: 300 },
    );
  });
});
