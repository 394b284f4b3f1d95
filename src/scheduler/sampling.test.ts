import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { NODE_DRAINING, NODE_POOL, NOT_ENOUGH_MEMORY } from './feasibility.js';
import { sampleLimit } from './rank.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anEval, aNode, aState } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import type { Plan, Sampling } from './types.js';

const nodesN = (n: number, o: Partial<Node> = {}) => Array.from({ length: n }, () => aNode(o));

/** Schedules one evaluation, counting the nodes scored and the nodes whose usage was read. */
function counted(state: TestState, job: Job, o: { seed?: string | number; sampling?: Sampling } = {}) {
  const scored: NodeId[] = [];
  let usageReads = 0;
  const spy = Object.create(state) as TestState;
  spy.allocsByNode = (id: NodeId) => {
    usageReads++;
    return state.allocsByNode(id);
  };
  const ctx = aContext({ seed: o.seed ?? 'test', ...(o.sampling ? { sampling: o.sampling } : {}) });
  ctx.onScore = (id) => scored.push(id);
  const plan = schedule(spy, anEval(job), ctx);
  return { plan, scored, usageReads };
}

describe('sampling: limits', () => {
  it('2 for batch, max(2, ⌈log2 n⌉) for services, all for a full scan', () => {
    const service = aJob();
    const batch = aJob({ type: 'batch' });
    assert.deepEqual([1, 2, 3, 4, 5, 64, 65, 5000].map((n) => sampleLimit(service, n)), [2, 2, 2, 2, 3, 6, 7, 13]);
    assert.deepEqual([1, 64, 5000].map((n) => sampleLimit(batch, n)), [2, 2, 2]);
    assert.equal(sampleLimit(service, 5000, 'full'), Number.POSITIVE_INFINITY);
  });

  it('a service placement scores log2(n) nodes and reads no more, when every node fits', () => {
    const job = aJob();
    const { plan, scored, usageReads } = counted(aState({ nodes: nodesN(64), jobs: [job] }), job);
    assert.equal(plan.place.length, 1);
    assert.equal(scored.length, 6);
    assert.equal(usageReads, 6, 'capacity filters ran only on the sampled nodes');
    assert.ok(scored.includes(plan.place[0]!.nodeId));
  });

  it('a batch placement scores 2 nodes', () => {
    const job = aJob({ type: 'batch' });
    const { plan, scored } = counted(aState({ nodes: nodesN(64), jobs: [job] }), job);
    assert.equal(plan.place.length, 1);
    assert.equal(scored.length, 2);
  });

  it('a full scan scores every feasible node', () => {
    const job = aJob({ type: 'batch' });
    const { scored } = counted(aState({ nodes: [...nodesN(40), ...nodesN(24, { drain: true })], jobs: [job] }), job, { sampling: 'full' });
    assert.equal(scored.length, 40);
  });

  it('many placements of one group cost about limit each, not n each', () => {
    // Anti-affinity penalises nodes already holding a copy: a few of those may be skipped per walk.
    const job = aJob({ type: 'batch', group: { count: 100 } });
    const { plan, scored, usageReads } = counted(aState({ nodes: nodesN(1000), jobs: [job] }), job);
    assert.equal(plan.place.length, 100);
    assert.ok(scored.length <= 100 * (2 + 3), `scored ${scored.length}`);
    assert.ok(usageReads <= scored.length, `usage reads ${usageReads}`);
  });

  it('walks past infeasible nodes to find the few that fit', () => {
    const small = nodesN(60, { resources: { cpuMhz: 4000, memoryMb: 100 } });
    const fits = nodesN(2);
    const job = aJob({ group: { count: 2 } });
    const { plan, scored } = counted(aState({ nodes: [...small, ...fits], jobs: [job] }), job);
    assert.deepEqual(plan.failures, {});
    assert.deepEqual(new Set(plan.place.map((a) => a.nodeId)), new Set(fits.map((n) => n.id)));
    assert.ok(scored.every((id) => fits.some((n) => n.id === id)), 'only feasible nodes are scored');
  });
});

describe('sampling: choice', () => {
  it('is the same for the same seed, and varies with the seed', () => {
    const nodes = nodesN(50);
    const job = aJob({ group: { count: 10 } });
    const place = (seed: string) => counted(aState({ nodes, jobs: [job] }), job, { seed }).plan.place.map((a) => a.nodeId);
    assert.deepEqual(place('a'), place('a'));
    const seen = new Set(['a', 'b', 'c', 'd', 'e'].map((s) => place(s).join()));
    assert.ok(seen.size > 1, 'different seeds sample different nodes');
  });

  it('picks the best of the sample: binpack takes the fuller of the sampled nodes', () => {
    // 2 nodes, batch limit 2: both are sampled, so the choice is the ranked one, not the first met.
    const empty = aNode();
    const half = aNode({ resources: { cpuMhz: 2000, memoryMb: 2048 } });
    const job = aJob({ type: 'batch' });
    const state = aState({ nodes: [empty, half], jobs: [job] });
    for (const seed of ['a', 'b', 'c', 'd']) {
      const { plan } = counted(state, job, { seed });
      // `half` has half the resources, so it ends up fuller after the placement.
      assert.equal(plan.place[0]!.nodeId, half.id, `seed ${seed}`);
    }
  });

  it('keeps copies of a group apart among the sampled nodes (anti-affinity)', () => {
    for (const seed of ['a', 'b', 'c', 'd', 'e', 'f']) {
      const job = aJob({ group: { count: 4 } });
      const { plan } = counted(aState({ nodes: nodesN(16), jobs: [job] }), job, { seed });
      assert.equal(new Set(plan.place.map((a) => a.nodeId)).size, 4, `seed ${seed}`);
    }
  });
});

describe('sampling: failures', () => {
  it('explains a failure exactly as a full scan does: every node was checked', () => {
    const nodes = [
      ...nodesN(3, { drain: true }),
      ...nodesN(4, { pool: 'gpu' }),
      ...nodesN(5, { resources: { cpuMhz: 4000, memoryMb: 80 } }),
      ...nodesN(20, { resources: { cpuMhz: 4000, memoryMb: 600 } }),
    ];
    const job = aJob({ group: { count: 60 } }); // 256 MB each: the 20 nodes take 2 each
    const failure = (sampling: Sampling): Plan => counted(aState({ nodes, jobs: [job] }), job, { sampling }).plan;
    const limited = failure('limited');
    const full = failure('full');
    assert.equal(limited.place.length, 40);
    assert.equal(full.place.length, 40);
    const f = limited.failures['web'];
    assert.ok(f !== undefined);
    assert.equal(f.unplaced, 20);
    assert.equal(f.nodesEvaluated, 32);
    assert.equal(f.nodesAvailable, 29);
    assert.deepEqual(f.filtered, { [NODE_DRAINING]: 3, [NODE_POOL]: 4, [NOT_ENOUGH_MEMORY]: 25 });
    assert.deepEqual(f.explanations, [
      '3 nodes: draining',
      "4 nodes: in another node pool (job wants 'default')",
      '25 nodes: not enough memory (needs 256 MB, most free 88 MB)',
    ]);
    assert.deepEqual(limited.failures, full.failures);
  });
});

describe('node pools', () => {
  it('places only on nodes of the job’s pool; no pool means default', () => {
    const plain = nodesN(3);
    const gpu = nodesN(2, { pool: 'gpu' });
    const explicitDefault = nodesN(1, { pool: 'default' });
    const state = aState({ nodes: [...plain, ...gpu, ...explicitDefault] });
    const gpuJob = aJob({ name: 'train', nodePool: 'gpu', group: { count: 2 } });
    const webJob = aJob({ name: 'web', group: { count: 4 } });
    state.putJob(gpuJob);
    state.putJob(webJob);
    const gpuPlan = schedule(state, anEval(gpuJob), aContext());
    assert.deepEqual(new Set(gpuPlan.place.map((a) => a.nodeId)), new Set(gpu.map((n) => n.id)));
    const webPlan = schedule(state, anEval(webJob), aContext());
    const defaults = new Set([...plain, ...explicitDefault].map((n) => n.id));
    assert.equal(webPlan.place.length, 4);
    assert.ok(webPlan.place.every((a) => defaults.has(a.nodeId)));
  });

  it('explains a pool with no nodes', () => {
    const job = aJob({ nodePool: 'gpu' });
    const plan = schedule(aState({ nodes: [...nodesN(3), ...nodesN(1, { drain: true })], jobs: [job] }), anEval(job), aContext());
    const f = plan.failures['web'];
    assert.ok(f !== undefined);
    // Cheapest first: the draining node is counted as draining, not as in another pool.
    assert.deepEqual(f.filtered, { [NODE_DRAINING]: 1, [NODE_POOL]: 3 });
    assert.deepEqual(f.explanations, ['1 node: draining', "3 nodes: in another node pool (job wants 'gpu')"]);
  });
});
