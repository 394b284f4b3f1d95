import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Affinity, Job } from '../core/job.js';
import { constraintHolds } from './constraints.js';
import { affinityScore, fitScore, scoreNode } from './rank.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anEval, aNode, aState } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

const matches = (a: Affinity, n: Parameters<typeof constraintHolds>[1]) => constraintHolds(a, n);
const ZONE_A: Affinity = { attribute: '${label.zone}', operator: '=', value: 'a', weight: 50 };
const NO_SSD: Affinity = { attribute: '${label.ssd}', operator: 'is_set', weight: -50 };

describe('affinityScore', () => {
  it('is the matched weights over the sum of absolute weights, negative weights lowering it', () => {
    assert.equal(affinityScore([ZONE_A, NO_SSD], aNode({ labels: { zone: 'a' } }), matches), 0.5);
    assert.equal(affinityScore([ZONE_A, NO_SSD], aNode({ labels: { zone: 'a', ssd: '1' } }), matches), 0);
    assert.equal(affinityScore([ZONE_A, NO_SSD], aNode({ labels: { zone: 'b', ssd: '1' } }), matches), -0.5);
    assert.equal(affinityScore([{ ...ZONE_A, weight: 100 }], aNode({ labels: { zone: 'a' } }), matches), 1);
    assert.equal(affinityScore([], aNode(), matches), 0);
  });
});

describe('scoreNode: a weighted average of the rankers', () => {
  const node = aNode({ resources: { cpuMhz: 1000, memoryMb: 1000 } });
  const base = { node, used: { cpuMhz: 0, memoryMb: 0 }, ask: { cpuMhz: 500, memoryMb: 500 }, strategy: 'binpack' as const, collisions: 0, groupCount: 2 };
  const fit = fitScore(node.resources, { cpuMhz: 500, memoryMb: 500 }, 'binpack');

  it('fit and anti-affinity always count; the reschedule penalty counts on every node when replacing a failure', () => {
    assert.equal(scoreNode(base), fit / 2);
    assert.equal(scoreNode({ ...base, collisions: 1 }), (fit - 0.5) / 2);
    assert.equal(scoreNode({ ...base, avoidNodeId: node.id }), (fit - 1) / 3);
    assert.equal(scoreNode({ ...base, avoidNodeId: 'node_other' as never }), fit / 3);
  });

  it('affinity counts once, spread by its weight (Σ weights / 50)', () => {
    assert.equal(scoreNode({ ...base, affinity: 0.5 }), (fit + 0.5) / 3);
    assert.equal(scoreNode({ ...base, spread: { score: -1, weight: 2 } }), (fit - 2) / 4);
    // Matching nothing is a 0 in the average, not a shorter average (Nomad leaves it out,
    // which can rank a node matching nothing above one matching half the weight).
    const perfect = { ...base, used: { cpuMhz: 500, memoryMb: 500 } };
    assert.ok(scoreNode({ ...perfect, affinity: 0.5 }) > scoreNode({ ...perfect, affinity: 0 }));
    assert.equal(scoreNode({ ...perfect, affinity: 0 }), (1 + 0 + 0) / 3);
  });
});

describe('affinities in placement', () => {
  const cluster = (n: number) => Array.from({ length: n }, (_, i) => aNode({ name: `n${i}`, labels: { zone: i === 7 ? 'a' : 'b', ...(i % 2 === 0 ? { ssd: '1' } : {}) } }));
  const place = (state: TestState, job: Job, seed: string | number) => {
    state.putJob(job);
    const plan = schedule(state, anEval(job), aContext({ seed }));
    state.apply(plan);
    return plan;
  };

  it('a positive affinity finds its one matching node among many (affinities score every feasible node)', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const state = aState({ nodes: cluster(20) });
      const plan = place(state, aJob({ name: 'pos', affinities: [{ ...ZONE_A, weight: 100 }] }), seed);
      assert.equal(plan.place[0]!.nodeName, 'n7', `seed ${seed}`);
    }
  });

  it('a negative affinity keeps allocations off matching nodes while others fit', () => {
    for (const seed of [1, 2, 3]) {
      const state = aState({ nodes: cluster(10) });
      const plan = place(state, aJob({ name: 'neg', affinities: [NO_SSD], group: { count: 4, affinities: [] } }), seed);
      assert.equal(plan.place.length, 4);
      for (const a of plan.place) assert.equal(state.node(a.nodeId)!.labels.ssd, undefined, `seed ${seed}: ${a.nodeName}`);
    }
  });

  it('a group affinity adds to the job’s', () => {
    const state = aState({ nodes: cluster(10) });
    const plan = place(state, aJob({ name: 'grp', group: { affinities: [{ ...ZONE_A, weight: 100 }] } }), 9);
    assert.equal(plan.place[0]!.nodeName, 'n7');
  });

  it('is replayable: the same seed gives the same plan', () => {
    const job = aJob({ name: 'rep', affinities: [NO_SSD], spreads: [{ attribute: '${label.zone}', weight: 50, targets: [] }], group: { count: 5 } });
    const plans = [1, 2].map(() => schedule(aState({ nodes: cluster(12), jobs: [job] }), anEval(job, { id: 'eval_same' as never }), aContext({ seed: 42 })));
    assert.deepEqual(plans[0], plans[1]);
  });
});
