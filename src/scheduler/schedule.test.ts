import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { describeFailure } from './failure.js';
import {
  DRIVER_UNHEALTHY,
  DYNAMIC_PORTS_EXHAUSTED,
  GROUP_CONSTRAINT,
  JOB_CONSTRAINT,
  NODE_DRAINING,
  NODE_INELIGIBLE,
  NODE_NOT_READY,
  NOT_ENOUGH_MEMORY,
  STATIC_PORT_IN_USE,
} from './feasibility.js';
import { schedule } from './schedule.js';
import type { Sampling } from './types.js';
import { aContext, aGroup, aJob, anAlloc, anEval, aNode, aState, aTask, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

const run = (state: TestState, job: Pick<Job, 'namespace' | 'name'>, seed: string | number = 'test', sampling?: Sampling) =>
  schedule(state, anEval(job), aContext({ seed, ...(sampling ? { sampling } : {}) }));

/** Schedules and applies, as the control plane would, returning the plan. */
const runAndApply = (state: TestState, job: Job, seed: string | number = 'test', sampling?: Sampling) => {
  state.putJob(job);
  const plan = run(state, job, seed, sampling);
  state.apply(plan);
  return plan;
};

const nodeNames = (state: TestState, nodes: readonly Node[]) =>
  nodes.map((n) => state.allocsByNode(n.id).filter((a) => a.desiredStatus === 'run').length);

describe('schedule: placement', () => {
  it('places count N on fitting nodes, with every field set', () => {
    const nodes = [aNode(), aNode(), aNode()];
    const job = aJob({ version: 3, group: { count: 3 } });
    const state = aState({ nodes, jobs: [job] });
    const evaluation = anEval(job);
    const plan = schedule(state, evaluation, aContext({ now: T0 + 5 }));

    assert.deepEqual(plan.failures, {});
    assert.deepEqual(plan.stop, []);
    assert.deepEqual(plan.place.map((a) => a.index), [0, 1, 2]);
    assert.equal(new Set(plan.place.map((a) => a.id)).size, 3);
    for (const a of plan.place) {
      assert.equal(a.jobVersion, 3);
      assert.equal(a.evalId, evaluation.id);
      assert.equal(a.desiredStatus, 'run');
      assert.equal(a.desiredDescription, '');
      assert.deepEqual(a.resources, { cpuMhz: 500, memoryMb: 256 });
      assert.equal(a.createdAt, T0 + 5);
      assert.equal(a.modifiedAt, T0 + 5);
      assert.equal(a.previousAllocId, undefined);
      const node = nodes.find((n) => n.id === a.nodeId);
      assert.equal(a.nodeName, node?.name);
    }
  });

  it('places nothing when everything already runs', () => {
    const node = aNode();
    const job = aJob({ group: { count: 1 } });
    const state = aState({ nodes: [node], jobs: [job], allocs: [anAlloc({ job, node })] });
    const plan = run(state, job);
    assert.deepEqual([plan.place, plan.stop, plan.markLost, plan.inPlaceUpdate], [[], [], [], []]);
  });

  // Ranking quality: a full scan, so every node is compared (sampling.test.ts covers the sample).
  it('binpack fills one node before the next', () => {
    const nodes = [aNode(), aNode(), aNode()];
    const state = aState({ nodes });
    for (let i = 0; i < 6; i++) runAndApply(state, aJob({ name: `job${i}` }), i, 'full');
    const perNode = nodeNames(state, nodes).sort();
    assert.deepEqual(perNode, [0, 0, 6]);
  });

  it('spread evens nodes out', () => {
    const nodes = [aNode(), aNode(), aNode()];
    const state = aState({ nodes });
    for (let i = 0; i < 6; i++) runAndApply(state, aJob({ name: `job${i}`, placement: 'spread' }), i, 'full');
    assert.deepEqual(nodeNames(state, nodes), [2, 2, 2]);
  });

  it('keeps copies of one group apart (anti-affinity), while separate groups still pack', () => {
    const nodes = [aNode(), aNode()];
    const spreadGroup = aJob({ group: { count: 2 } });
    const plan = run(aState({ nodes, jobs: [spreadGroup] }), spreadGroup);
    assert.equal(new Set(plan.place.map((a) => a.nodeId)).size, 2);

    const twoGroups = aJob({ groups: [aGroup({ name: 'a' }), aGroup({ name: 'b' })] });
    const plan2 = run(aState({ nodes, jobs: [twoGroups] }), twoGroups);
    assert.equal(plan2.place.length, 2);
    assert.equal(new Set(plan2.place.map((a) => a.nodeId)).size, 1);
  });

  it('counts what the plan itself placed: fits two, reports the third', () => {
    const node = aNode({ resources: { cpuMhz: 4000, memoryMb: 600 } });
    const job = aJob({ group: { count: 3 } }); // 256 MB each
    const plan = run(aState({ nodes: [node], jobs: [job] }), job);
    assert.equal(plan.place.length, 2);
    assert.deepEqual(plan.failures['web'], {
      unplaced: 1,
      nodesEvaluated: 1,
      nodesAvailable: 1,
      filtered: { [NOT_ENOUGH_MEMORY]: 1 },
      explanations: ['1 node: not enough memory (needs 256 MB, most free 88 MB)'],
    });
  });

  it('is deterministic: same seed, same plan; the seed breaks ties', () => {
    const nodes = Array.from({ length: 10 }, () => aNode());
    const job = aJob({ group: { count: 3, tasks: [aTask({ ports: [{ label: 'http', to: 80 }] })] } });
    const state = aState({ nodes, jobs: [job] });
    const evaluation = anEval(job);
    const a = schedule(state, evaluation, aContext({ seed: 42 }));
    const b = schedule(state, evaluation, aContext({ seed: 42 }));
    assert.deepEqual(a, b);
    const firstNodes = new Set([1, 2, 3, 4, 5].map((seed) => schedule(state, evaluation, aContext({ seed })).place[0]!.nodeId));
    assert.ok(firstNodes.size > 1, 'different seeds should pick different nodes among equals');
  });

  it('does not depend on the order the state lists nodes in', () => {
    const nodes = Array.from({ length: 6 }, () => aNode());
    const job = aJob({ group: { count: 4 } });
    const forward = schedule(aState({ nodes, jobs: [job] }), anEval(job, { id: 'eval_x' as never }), aContext({ seed: 7 }));
    const backward = schedule(aState({ nodes: [...nodes].reverse(), jobs: [job] }), anEval(job, { id: 'eval_x' as never }), aContext({ seed: 7 }));
    assert.deepEqual(forward, backward);
  });
});

describe('schedule: feasibility and explanations', () => {
  it('explains a memory shortfall exactly', () => {
    const big = aNode({ resources: { cpuMhz: 4000, memoryMb: 1000 } });
    const small = aNode({ resources: { cpuMhz: 4000, memoryMb: 200 } });
    const other = aJob({ name: 'other' });
    const hog = anAlloc({ job: other, node: big, resources: { cpuMhz: 100, memoryMb: 700 } });
    const job = aJob({ group: { count: 2, tasks: [aTask({ resources: { cpuMhz: 100, memoryMb: 512 } })] } });
    const plan = run(aState({ nodes: [big, small], jobs: [job, other], allocs: [hog] }), job);

    assert.deepEqual(plan.place, []);
    const f = plan.failures['web']!;
    assert.deepEqual(f, {
      unplaced: 2,
      nodesEvaluated: 2,
      nodesAvailable: 2,
      filtered: { [NOT_ENOUGH_MEMORY]: 2 },
      explanations: ['2 nodes: not enough memory (needs 512 MB, most free 300 MB)'],
    });
    assert.equal(describeFailure(f), 'could not place 2 allocations (2 nodes evaluated, 2 available): 2 nodes: not enough memory (needs 512 MB, most free 300 MB)');
  });

  it('filters down, ineligible, draining and driverless nodes, each with its reason', () => {
    const bad = [
      aNode({ status: 'down' }),
      aNode({ status: 'initializing' }),
      aNode({ eligibility: 'ineligible' }),
      aNode({ drain: true }),
      aNode({ drivers: { docker: { healthy: false, detail: 'daemon not responding' } } }),
    ];
    const job = aJob();
    const plan = run(aState({ nodes: bad, jobs: [job] }), job);
    const f = plan.failures['web']!;
    assert.deepEqual(f.filtered, { [NODE_NOT_READY]: 2, [NODE_INELIGIBLE]: 1, [NODE_DRAINING]: 1, [DRIVER_UNHEALTHY]: 1 });
    assert.deepEqual(f.explanations, [
      '2 nodes: not ready (down, initializing)',
      '1 node: ineligible for scheduling',
      '1 node: draining',
      '1 node: docker driver unavailable (daemon not responding)',
    ]);
    assert.equal(f.nodesEvaluated, 5);
    assert.equal(f.nodesAvailable, 1, 'available = ready, eligible and not draining');

    const good = aNode();
    const plan2 = run(aState({ nodes: [...bad, good], jobs: [job] }), job);
    assert.deepEqual(plan2.failures, {});
    assert.equal(plan2.place[0]!.nodeId, good.id);
  });

  it('applies job and group constraints', () => {
    const old = aNode({ attributes: { 'docker.version': '20.10.3' }, labels: { zone: 'a' } });
    const wrongZone = aNode({ attributes: { 'docker.version': '20.10.24' }, labels: { zone: 'b' } });
    const right = aNode({ attributes: { 'docker.version': '20.10.24' }, labels: { zone: 'a' } });
    const job = aJob({
      constraints: [{ attribute: '${attr.docker.version}', operator: '>=', value: '20.10.10' }],
      group: { count: 2, constraints: [{ attribute: '${label.zone}', operator: '=', value: 'a' }] },
    });
    const plan = run(aState({ nodes: [old, wrongZone, right], jobs: [job] }), job);
    assert.deepEqual(plan.place.map((a) => a.nodeId), [right.id, right.id]);

    const plan2 = run(aState({ nodes: [old, wrongZone], jobs: [job] }), job);
    assert.deepEqual(plan2.failures['web']!.filtered, { [JOB_CONSTRAINT]: 1, [GROUP_CONSTRAINT]: 1 });
    assert.deepEqual(plan2.failures['web']!.explanations, [
      '1 node: job constraint not met (${attr.docker.version} >= 20.10.10)',
      '1 node: group constraint not met (${label.zone} = a)',
    ]);
  });

  it('avoids nodes where a static port is taken, including by the plan itself', () => {
    const busy = aNode();
    const free = aNode();
    const other = aJob({ name: 'other' });
    const holder = anAlloc({ job: other, node: busy, ports: [{ task: 'main', label: 'http', host: 8080, to: 80 }] });
    const job = aJob({ group: { count: 1, tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] } });
    const plan = run(aState({ nodes: [busy, free], jobs: [job, other], allocs: [holder] }), job);
    assert.equal(plan.place[0]!.nodeId, free.id);
    assert.deepEqual(plan.place[0]!.ports, [{ task: 'main', label: 'http', host: 8080, to: 80 }]);

    const two = aJob({ group: { count: 2, tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] } });
    const plan2 = run(aState({ nodes: [busy, free], jobs: [two, other], allocs: [holder] }), two);
    assert.equal(plan2.place.length, 1);
    assert.deepEqual(plan2.failures['web']!.filtered, { [STATIC_PORT_IN_USE]: 2 });
    assert.deepEqual(plan2.failures['web']!.explanations, ['2 nodes: static port in use (8080)']);
  });

  it('keeps dynamic ports unique on a node, across allocations and within one plan', () => {
    const node = aNode({ portRange: { min: 20000, max: 20009 } });
    const other = aJob({ name: 'other' });
    const taken = [20000, 20002, 20004, 20006, 20008];
    const holder = anAlloc({ job: other, node, ports: taken.map((host, i) => ({ task: 'main', label: `p${i}`, host, to: 1000 + i })) });
    const tasks = [aTask({ name: 'a', ports: [{ label: 'http', to: 80 }] }), aTask({ name: 'b', ports: [{ label: 'admin', to: 9000 }] })];
    const job = aJob({ group: { count: 3, tasks } });
    const plan = run(aState({ nodes: [node], jobs: [job, other], allocs: [holder] }), job);

    const hosts = plan.place.flatMap((a) => a.ports.map((p) => p.host));
    assert.equal(plan.place.length, 2, '5 free ports fit two allocations of two ports');
    assert.equal(new Set(hosts).size, 4);
    for (const h of hosts) {
      assert.ok(h >= 20000 && h <= 20009, `${h} in range`);
      assert.ok(!taken.includes(h), `${h} not taken`);
    }
    assert.deepEqual(plan.place[0]!.ports.map((p) => [p.task, p.label, p.to]), [['a', 'http', 80], ['b', 'admin', 9000]]);
    assert.deepEqual(plan.failures['web']!.explanations, ['1 node: not enough free dynamic ports (needs 2, most free 1)']);
    assert.deepEqual(plan.failures['web']!.filtered, { [DYNAMIC_PORTS_EXHAUSTED]: 1 });
  });
});
