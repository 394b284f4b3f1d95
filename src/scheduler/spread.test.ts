import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Job, Spread } from '../core/job.js';
import type { Node } from '../core/node.js';
import { JobCounts } from './job-counts.js';
import { schedule } from './schedule.js';
import { desiredCounts, SpreadScorer } from './spread.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

const zones = (spec: Record<string, number>, extra: Partial<Node> = {}): Node[] =>
  Object.entries(spec).flatMap(([zone, n]) => Array.from({ length: n }, (_, i) => aNode({ name: `${zone}${i}`, labels: { zone }, ...extra })));
const byZone = (spread: Omit<Spread, 'attribute'>): Spread => ({ attribute: '${label.zone}', ...spread });
const zoneCounts = (state: TestState, job: Job) => {
  const out: Record<string, number> = {};
  for (const a of state.allocsByJob(job.namespace, job.name)) {
    if (a.desiredStatus !== 'run') continue;
    const z = state.node(a.nodeId)!.labels.zone ?? '-';
    out[z] = (out[z] ?? 0) + 1;
  }
  return out;
};
const place = (state: TestState, job: Job, seed: string | number) => {
  state.putJob(job);
  const plan = schedule(state, anEval(job), aContext({ seed }));
  state.apply(plan);
  return plan;
};

describe('desiredCounts', () => {
  const universe = zones({ a: 2, b: 1, c: 1 });
  it('targets as percentages of count; unlisted values share the rest evenly', () => {
    assert.deepEqual(Object.fromEntries(desiredCounts(byZone({ weight: 50, targets: [{ value: 'a', percent: 50 }] }), 10, universe)), { a: 5, b: 2.5, c: 2.5 });
    assert.deepEqual(Object.fromEntries(desiredCounts(byZone({ weight: 50, targets: [{ value: 'a', percent: 70 }, { value: 'b', percent: 30 }] }), 10, universe)), { a: 7, b: 3, c: 0 });
  });
  it('scales the values present up when targets name absent values or leave a remainder nobody takes', () => {
    const ab = zones({ a: 1, b: 1 });
    assert.deepEqual(Object.fromEntries(desiredCounts(byZone({ weight: 50, targets: [{ value: 'a', percent: 20 }, { value: 'b', percent: 20 }] }), 10, ab)), { a: 5, b: 5 });
    const d = desiredCounts(byZone({ weight: 50, targets: [{ value: 'a', percent: 25 }, { value: 'x', percent: 50 }] }), 8, ab);
    assert.deepEqual([d.get('a'), d.get('b')], [4, 4]); // 2 and 2 (b: the 25% left), doubled
  });

  it('without targets: even over the values present', () => {
    assert.deepEqual(Object.fromEntries(desiredCounts(byZone({ weight: 50, targets: [] }), 6, universe)), { a: 2, b: 2, c: 2 });
  });
});

describe('SpreadScorer', () => {
  it('scores +1 while a value is short, 0 at its target, −1 over it or without the attribute', () => {
    const nodes = [...zones({ a: 1, b: 1 }), aNode({ name: 'bare' })];
    const job = aJob({ name: 's', version: 1, group: { count: 2 } });
    const state = aState({ nodes, jobs: [job], allocs: [anAlloc({ job, node: nodes[0]! })] });
    const counts = new JobCounts(state, job);
    const s = new SpreadScorer([byZone({ weight: 100, targets: [] })], 2, 'web', nodes, counts);
    assert.equal(s.weight, 2);
    assert.equal(s.score(nodes[0]!), 0); // a: 1 of 1
    assert.equal(s.score(nodes[1]!), 1); // b: 0 of 1
    assert.equal(s.score(nodes[2]!), -1);
    counts.add({ nodeId: nodes[0]!.id, group: 'web' });
    assert.equal(s.score(nodes[0]!), -1); // the counts are live
  });
});

describe('spread in placement', () => {
  it('meets targets: 50% a, 25% b, the rest (c) 25%', () => {
    for (const seed of [1, 2, 3, 4]) {
      const state = aState({ nodes: zones({ a: 3, b: 3, c: 3 }) });
      const job = aJob({ name: 't', spreads: [byZone({ weight: 100, targets: [{ value: 'a', percent: 50 }, { value: 'b', percent: 25 }] })], group: { count: 8 } });
      assert.deepEqual(place(state, job, seed).failures, {});
      assert.deepEqual(zoneCounts(state, job), { a: 4, b: 2, c: 2 }, `seed ${seed}`);
    }
  });

  it('without targets spreads evenly, even when one value has far more nodes (binpack notwithstanding)', () => {
    for (const seed of [1, 2, 3]) {
      const state = aState({ nodes: zones({ a: 6, b: 1 }) });
      const job = aJob({ name: 'e', spreads: [byZone({ weight: 100, targets: [] })], group: { count: 6 } });
      place(state, job, seed);
      assert.deepEqual(zoneCounts(state, job), { a: 3, b: 3 }, `seed ${seed}`);
    }
  });

  it('counts what already runs: new allocations go where the group is short', () => {
    const nodes = zones({ a: 2, b: 2 });
    const job = aJob({ name: 'x', version: 1, spreads: [byZone({ weight: 100, targets: [] })], group: { count: 4 } });
    const state = aState({ nodes, jobs: [job], allocs: [anAlloc({ job, node: nodes[0]!, index: 0 }), anAlloc({ job, node: nodes[1]!, index: 1 })] });
    const plan = place(state, job, 1);
    assert.deepEqual(plan.place.map((a) => state.node(a.nodeId)!.labels.zone), ['b', 'b']);
  });

  it('a weak spread gives way to a strong affinity', () => {
    const state = aState({ nodes: zones({ a: 2, b: 2 }) });
    const job = aJob({
      name: 'w',
      spreads: [byZone({ weight: 5, targets: [] })],
      affinities: [{ attribute: '${label.zone}', operator: '=', value: 'a', weight: 100 }],
      group: { count: 2 },
    });
    place(state, job, 1);
    assert.deepEqual(zoneCounts(state, job), { a: 2 });
  });
});
