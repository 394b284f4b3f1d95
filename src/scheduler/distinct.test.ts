import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Constraint, Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { DISTINCT_HOSTS, DISTINCT_PROPERTY } from './feasibility.js';
import { schedule } from './schedule.js';
import { aContext, aGroup, aJob, anAlloc, anEval, aNode, aState, aTask } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

const HOSTS: Constraint = { attribute: '', operator: 'distinct_hosts' };
const perZone = (limit?: string): Constraint => ({ attribute: '${label.zone}', operator: 'distinct_property', ...(limit ? { value: limit } : {}) });

const run = (state: TestState, job: Job, seed: string | number = 'd') => {
  state.putJob(job);
  const plan = schedule(state, anEval(job), aContext({ seed }));
  state.apply(plan);
  return plan;
};
const nodesOf = (state: TestState, job: Job, group?: string) =>
  state
    .allocsByJob(job.namespace, job.name)
    .filter((a) => a.desiredStatus === 'run' && (group === undefined || a.group === group))
    .map((a) => state.node(a.nodeId)!.name)
    .sort();

describe('distinct_hosts', () => {
  it('never puts two allocations of the job on one node, counting the plan’s own placements', () => {
    const state = aState({ nodes: [aNode({ name: 'h1' }), aNode({ name: 'h2' }), aNode({ name: 'h3' })] });
    const job = aJob({ name: 'one-per-host', constraints: [HOSTS], group: { count: 5 } });
    const plan = run(state, job);
    assert.deepEqual(nodesOf(state, job), ['h1', 'h2', 'h3']);
    const f = plan.failures.web!;
    assert.equal(f.unplaced, 2);
    assert.equal(f.filtered[DISTINCT_HOSTS], 3);
    assert.deepEqual(f.explanations, ['3 nodes: excluded by distinct_hosts (already run an allocation of job one-per-host)']);
  });

  it('counts allocations already running, not those stopped or stopped by this plan', () => {
    const [h1, h2] = [aNode({ name: 'h1' }), aNode({ name: 'h2' })];
    const job = aJob({ name: 'app', version: 1, constraints: [HOSTS], group: { count: 2 } });
    const state = aState({ nodes: [h1, h2], jobs: [job], allocs: [anAlloc({ job, node: h1, index: 0 }), anAlloc({ job, node: h2, index: 5, desiredStatus: 'stop' })] });
    run(state, job);
    assert.deepEqual(nodesOf(state, job), ['h1', 'h2']);

    // A destructive update on one node: the old allocation is stopped by the same plan, so it does not count.
    const solo = aNode({ name: 'solo' });
    const v1 = aJob({ name: 'upd', version: 1, constraints: [HOSTS] });
    const s2 = aState({ nodes: [solo], jobs: [v1], allocs: [anAlloc({ job: v1, node: solo })] });
    const plan = run(s2, { ...v1, version: 2, groups: [{ ...v1.groups[0]!, tasks: [aTask({ image: 'other:2' })] }] });
    assert.equal(plan.stop.length, 1);
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.nodeName, 'solo');
  });

  it('on a group: counts that group only; on the job: every group', () => {
    const nodes = [aNode({ name: 'h1' }), aNode({ name: 'h2' })];
    const groupScoped = aJob({ name: 'g', groups: [aGroup({ name: 'a', count: 2, constraints: [HOSTS] }), aGroup({ name: 'b', count: 2, constraints: [HOSTS] })] });
    const s1 = aState({ nodes });
    assert.deepEqual(run(s1, groupScoped).failures, {});
    assert.deepEqual(nodesOf(s1, groupScoped, 'a'), ['h1', 'h2']);
    assert.deepEqual(nodesOf(s1, groupScoped, 'b'), ['h1', 'h2']);

    const jobScoped = aJob({ name: 'j', constraints: [HOSTS], groups: [aGroup({ name: 'a', count: 1 }), aGroup({ name: 'b', count: 2 })] });
    const s2 = aState({ nodes });
    const plan = run(s2, jobScoped);
    assert.deepEqual(nodesOf(s2, jobScoped), ['h1', 'h2']);
    assert.equal(plan.failures.b?.unplaced, 1);
    assert.match(plan.failures.b!.explanations[0]!, /2 nodes: excluded by distinct_hosts \(already run an allocation of job j\)/);
  });
});

describe('distinct_property', () => {
  const zoned = (): Node[] => [
    aNode({ name: 'a1', labels: { zone: 'a' } }),
    aNode({ name: 'a2', labels: { zone: 'a' } }),
    aNode({ name: 'b1', labels: { zone: 'b' } }),
    aNode({ name: 'b2', labels: { zone: 'b' } }),
    aNode({ name: 'c1', labels: { zone: 'c' } }),
    aNode({ name: 'none' }),
  ];
  const zonesOf = (state: TestState, job: Job) =>
    state
      .allocsByJob(job.namespace, job.name)
      .filter((a) => a.desiredStatus === 'run')
      .map((a) => state.node(a.nodeId)!.labels.zone ?? '-')
      .sort();

  it('at most one allocation per value by default; nodes without the property are out', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const state = aState({ nodes: zoned() });
      const job = aJob({ name: 'z', constraints: [perZone()], group: { count: 4 } });
      const plan = run(state, job, seed);
      assert.deepEqual(zonesOf(state, job), ['a', 'b', 'c'], `seed ${seed}`);
      const f = plan.failures.web!;
      assert.equal(f.unplaced, 1);
      assert.equal(f.filtered[DISTINCT_PROPERTY], 6);
      // Items in the order met (up to 3): full values and the node without a zone.
      assert.match(f.explanations[0]!, /^6 nodes: excluded by distinct_property \(.*\$\{label\.zone\} = [abc] has 1 of 1 for job z/);
    }
  });

  it('at most `value` per value, counting existing allocations', () => {
    const nodes = zoned();
    const job = aJob({ name: 'z2', version: 1, constraints: [perZone('2')], group: { count: 6 } });
    // One already runs in zone a.
    const state = aState({ nodes, jobs: [job], allocs: [anAlloc({ job, node: nodes[0]!, index: 0 })] });
    const plan = run(state, job);
    assert.deepEqual(plan.failures, {});
    assert.deepEqual(zonesOf(state, job), ['a', 'a', 'b', 'b', 'c', 'c']);
  });

  it('on a group: counts that group only', () => {
    const job = aJob({ name: 'zg', groups: [aGroup({ name: 'x', count: 3, constraints: [perZone()] }), aGroup({ name: 'y', count: 3, constraints: [perZone()] })] });
    const state = aState({ nodes: zoned() });
    assert.deepEqual(run(state, job).failures, {});
    assert.equal(zonesOf(state, job).join(''), 'aabbcc');
  });

  it('explains a node without the property', () => {
    const state = aState({ nodes: [aNode({ name: 'bare' })] });
    const plan = run(state, aJob({ name: 'nz', constraints: [perZone()] }));
    assert.deepEqual(plan.failures.web!.explanations, ['1 node: excluded by distinct_property (${label.zone} not set)']);
  });
});
