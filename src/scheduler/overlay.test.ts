import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../lib/rng.js';
import { GroupOverlay, PortOverlay } from './overlay.js';
import { readOnlyMap, readOnlySet } from './testing/builders.js';

/**
 * The overlays stand in for copies of the read model's port set and group map (usage.ts):
 * they must answer exactly as the copies would after any sequence of changes, and never
 * write to the shared originals.
 */

const countIn = (set: ReadonlySet<number>, min: number, max: number) => [...set].filter((p) => p >= min && p <= max).length;

describe('PortOverlay answers as a copied Set would', () => {
  it('a port freed, then taken again, in one plan; one added, then freed', () => {
    const base = readOnlySet(new Set([100, 101, 8080]));
    const o = new PortOverlay(base);
    o.delete(101);
    assert.equal(o.has(101), false);
    assert.equal(o.countIn(100, 104), 1);
    o.add(101);
    assert.equal(o.has(101), true);
    assert.equal(o.countIn(100, 104), 2);
    o.add(103);
    o.delete(103);
    assert.equal(o.has(103), false);
    assert.equal(o.countIn(100, 104), 2);
    o.delete(8080);
    o.delete(8080);
    o.add(8080);
    assert.equal(o.has(8080), true);
    assert.deepEqual([...base], [100, 101, 8080]);
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: random adds and deletes give the same has() and countIn() at every step; the base is untouched`, () => {
      const rng = seededRng(seed);
      const initial = Array.from({ length: rng.int(0, 12) }, () => rng.int(0, 30));
      const base = readOnlySet(new Set(initial));
      const copy = new Set(initial);
      const o = new PortOverlay(base);
      for (let step = 0; step < 300; step++) {
        const port = rng.int(0, 30);
        if (rng.next() < 0.5) {
          o.add(port);
          copy.add(port);
        } else {
          o.delete(port);
          copy.delete(port);
        }
        for (let p = 0; p <= 30; p++) assert.equal(o.has(p), copy.has(p), `step ${step}: has(${p})`);
        // Two ranges, asked alternately: the base's count is cached per range.
        for (const [min, max] of [
          [5, 20],
          [0, 30],
        ] as const) {
          assert.equal(o.countIn(min, max), countIn(copy, min, max), `step ${step}: countIn(${min}, ${max})`);
        }
      }
      assert.deepEqual([...base], [...new Set(initial)]);
    });
  }
});

describe('GroupOverlay answers as a copied Map would', () => {
  /** What usage.ts did to its copy: +1, or −1 and dropped at 0. */
  const bump = (m: Map<string, number>, k: string, d: 1 | -1) => {
    const n = (m.get(k) ?? 0) + d;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };

  it('a group decremented to zero is gone, and counts again from one', () => {
    const base = readOnlyMap(new Map([['ns/j/g', 2]]));
    const o = new GroupOverlay(base);
    o.remove('ns/j/g');
    assert.equal(o.get('ns/j/g'), 1);
    o.remove('ns/j/g');
    assert.equal(o.get('ns/j/g'), undefined);
    o.remove('ns/j/g');
    assert.equal(o.get('ns/j/g'), undefined);
    o.add('ns/j/g');
    assert.equal(o.get('ns/j/g'), 1);
    o.add('ns/j/h');
    assert.equal(o.get('ns/j/h'), 1);
    assert.deepEqual([...base], [['ns/j/g', 2]]);
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`seed ${seed}: random adds and removes give the same get() at every step; the base is untouched`, () => {
      const rng = seededRng(seed);
      const keys = ['a', 'b', 'c', 'd'];
      const initial = keys.filter(() => rng.next() < 0.6).map((k) => [k, rng.int(1, 3)] as [string, number]);
      const base = readOnlyMap(new Map(initial));
      const copy = new Map(initial);
      const o = new GroupOverlay(base);
      for (let step = 0; step < 300; step++) {
        const k = keys[rng.int(0, keys.length - 1)]!;
        if (rng.next() < 0.5) {
          o.add(k);
          bump(copy, k, 1);
        } else {
          o.remove(k);
          bump(copy, k, -1);
        }
        for (const key of [...keys, 'none']) assert.equal(o.get(key), copy.get(key), `step ${step}: get(${key})`);
      }
      assert.deepEqual([...base], initial);
    });
  }
});
