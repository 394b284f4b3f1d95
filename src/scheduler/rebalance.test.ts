import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocView } from '../core/alloc.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { seededRng } from '../lib/rng.js';
import { CAPACITY_FILTERS, FilterTally, NODE_FILTERS, askFor, passes } from './feasibility.js';
import { groupResources } from '../core/job.js';
import { planRebalance, type RebalancePlan } from './rebalance.js';
import { aJob, anAlloc, aNode, aState, aTask } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import { UsageTracker } from './usage.js';

/** Applies a plan's moves the way a finished migration leaves them: each allocation now on its target. */
function applyMoves(state: TestState, plan: RebalancePlan): TestState {
  for (const m of plan.moves) {
    const a = state.alloc(m.allocId)!;
    const node = state.node(m.toNodeId)!;
    state.putAlloc({ ...a, nodeId: node.id, nodeName: node.name });
  }
  return state;
}

describe('rebalance planner', () => {
  it('moves load from a full node to empty ones that joined, and reports before/after', () => {
    const full = aNode({ name: 'full' });
    const e1 = aNode({ name: 'empty1' });
    const e2 = aNode({ name: 'empty2' });
    const job = aJob({ group: { count: 6 } });
    const allocs = Array.from({ length: 6 }, (_, i) => anAlloc({ job, node: full, index: i }));
    const state = aState({ nodes: [full, e1, e2], jobs: [job], allocs });
    const plan = planRebalance(state);
    assert.equal(plan.moves.length, 4);
    assert.ok(plan.moves.every((m) => m.fromNodeName === 'full'));
    assert.deepEqual(plan.after.map((u) => u.allocs), [2, 2, 2]);
    assert.ok(plan.imbalanceAfter < plan.imbalanceBefore);
    assert.equal(plan.before.find((u) => u.name === 'full')!.cpu, 0.75);
    assert.match(plan.moves[0]!.why, /full .*cpu 75%/);
  });

  it('never moves node-local allocations, and says why', () => {
    const full = aNode({ name: 'full' });
    const empty = aNode({ name: 'empty' });
    const job = aJob({ group: { count: 2, tasks: [aTask({ mounts: [{ source: '/srv/db', target: '/data', readOnly: false }] })] } });
    const allocs = [0, 1].map((i) => anAlloc({ job, node: full, index: i }));
    const plan = planRebalance(aState({ nodes: [full, empty], jobs: [job], allocs }));
    assert.deepEqual(plan.moves, []);
    assert.deepEqual(plan.notMovable.map((n) => n.why), ['not movable (uses host path /srv/db)', 'not movable (uses host path /srv/db)']);
  });

  it('respects constraints, eligibility and drain', () => {
    const full = aNode({ name: 'full', labels: { zone: 'a' } });
    const otherZone = aNode({ name: 'b', labels: { zone: 'b' } });
    const ineligible = aNode({ name: 'off', labels: { zone: 'a' }, eligibility: 'ineligible' });
    const draining = aNode({ name: 'drain', labels: { zone: 'a' }, drain: true });
    const job = aJob({ group: { count: 4, constraints: [{ attribute: '${label.zone}', operator: '=', value: 'a' }] } });
    const allocs = Array.from({ length: 4 }, (_, i) => anAlloc({ job, node: full, index: i }));
    const plan = planRebalance(aState({ nodes: [full, otherZone, ineligible, draining], jobs: [job], allocs }));
    assert.deepEqual(plan.moves, []);
  });

  it('is idempotent: nothing to do when balanced, and a plan on its own result is empty', () => {
    const a = aNode();
    const b = aNode();
    const job = aJob({ group: { count: 2 } });
    const plan = planRebalance(aState({ nodes: [a, b], jobs: [job], allocs: [anAlloc({ job, node: a, index: 0 }), anAlloc({ job, node: b, index: 1 })] }));
    assert.deepEqual(plan.moves, []);
    // Plenty of room everywhere: the pessimistic capacity check never binds, so one plan is final.
    const nodes = [0, 1, 2, 3].map((i) => aNode({ name: `big${i}`, resources: { cpuMhz: 64_000, memoryMb: 65_536 } }));
    const many = aJob({ name: 'many', group: { count: 9 } });
    const state = aState({ nodes, jobs: [many], allocs: Array.from({ length: 9 }, (_, i) => anAlloc({ job: many, node: nodes[i % 2]!, index: i })) });
    const first = planRebalance(state);
    assert.ok(first.moves.length > 0);
    assert.deepEqual(planRebalance(applyMoves(state, first)).moves, []);
  });

  it('limits the moves to one job when asked', () => {
    const full = aNode({ name: 'full' });
    const empty = aNode({ name: 'empty' });
    const web = aJob({ name: 'web', group: { count: 2 } });
    const db = aJob({ name: 'db', group: { count: 2 } });
    const allocs = [...[0, 1].map((i) => anAlloc({ job: web, node: full, index: i })), ...[0, 1].map((i) => anAlloc({ job: db, node: full, index: i }))];
    const plan = planRebalance(aState({ nodes: [full, empty], jobs: [web, db], allocs }), { job: { namespace: 'default', name: 'db' } });
    assert.ok(plan.moves.length > 0);
    assert.ok(plan.moves.every((m) => m.jobName === 'db'));
  });

  it('property: moves fit (constraints, capacity, ports), lower the imbalance, and repeated plans converge', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rng = seededRng(`rebalance-${seed}`);
      const int = (lo: number, hi: number) => lo + Math.floor(rng.next() * (hi - lo + 1));
      const nodes: Node[] = Array.from({ length: int(2, 6) }, (_, i) =>
        aNode({ name: `s${seed}n${i}`, labels: { zone: i % 2 ? 'a' : 'b' }, resources: { cpuMhz: int(2, 8) * 1000, memoryMb: int(2, 8) * 1024 } }),
      );
      const jobs: Job[] = Array.from({ length: int(1, 4) }, (_, j) =>
        aJob({
          name: `j${j}`,
          placement: j % 2 ? 'spread' : 'binpack',
          group: {
            count: int(1, 6),
            constraints: j === 3 ? [{ attribute: '${label.zone}', operator: '=', value: 'a' }] : [],
            tasks: [aTask({ resources: { cpuMhz: int(1, 8) * 100, memoryMb: int(1, 8) * 128 }, ports: j === 2 ? [{ label: 'http', to: 80, static: 8080 }] : [] })],
          },
        }),
      );
      const state = aState({ nodes, jobs });
      // Place copies like a (bad) scheduler that favours the first feasible node.
      for (const job of jobs) {
        const group = job.groups[0]!;
        for (let index = 0; index < group.count; index++) {
          const ask = askFor(job, group, groupResources(group));
          const usage = new UsageTracker(state);
          const node = nodes.find((n) => passes(NODE_FILTERS, n, ask, usage.of(n.id), new FilterTally()) && passes(CAPACITY_FILTERS, n, ask, usage.of(n.id), new FilterTally()));
          if (!node) continue;
          const ports = group.tasks[0]!.ports.map((p) => ({ task: 'main', label: p.label, host: p.static!, to: p.to }));
          state.putAlloc(anAlloc({ job, node, index, ports }));
        }
      }
      const plan = planRebalance(state);
      if (plan.moves.length > 0) assert.ok(plan.imbalanceAfter < plan.imbalanceBefore, `seed ${seed}: imbalance did not drop`);
      else assert.equal(plan.imbalanceAfter, plan.imbalanceBefore);
      applyMoves(state, plan);
      // Every node within capacity and every allocation on a node that satisfies its constraints.
      for (const n of nodes) {
        const on: AllocView[] = [...state.allocsByNode(n.id)];
        assert.ok(on.reduce((s, a) => s + a.resources.cpuMhz, 0) <= n.resources.cpuMhz, `seed ${seed}: cpu over on ${n.name}`);
        assert.ok(on.reduce((s, a) => s + a.resources.memoryMb, 0) <= n.resources.memoryMb, `seed ${seed}: memory over on ${n.name}`);
        const statics = on.flatMap((a) => (a.jobName === 'j2' ? [8080] : []));
        assert.ok(statics.length <= 1, `seed ${seed}: static port 8080 twice on ${n.name}`);
        for (const a of on) if (a.jobName === 'j3') assert.equal(n.labels.zone, 'a', `seed ${seed}: constraint broken`);
      }
      // Capacity is checked pessimistically (moves out are not freed), so a plan on the
      // result may find moves that did not fit before; rounds must still converge, each
      // lowering the imbalance, to a state where the planner has nothing left to do.
      let last = plan.imbalanceAfter;
      let rounds = 0;
      for (let again = planRebalance(state); again.moves.length > 0; again = planRebalance(state)) {
        assert.ok(again.imbalanceAfter < last + 1e-12, `seed ${seed}: round ${rounds} did not lower the imbalance`);
        last = again.imbalanceAfter;
        applyMoves(state, again);
        assert.ok(++rounds <= 5, `seed ${seed}: no convergence`);
      }
    }
  });
});
