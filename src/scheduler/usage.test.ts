import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLive } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import { seededRng } from '../lib/rng.js';
import type { Rng } from '../lib/rng.js';
import { schedule } from './schedule.js';
import type { NodeUsageSnapshot, Plan, SchedulerState } from './types.js';
import { aContext, aGroup, aJob, anAlloc, anEval, aNode, aState, aTask, readOnlyMap, readOnlySet, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import { JobCounts } from './job-counts.js';
import { groupKey, UsageTracker } from './usage.js';
import { verifyPlan } from './verify.js';

/**
 * The read model answers `nodeUsage` from counters it keeps (store/state-index.ts); the
 * scheduler then skips summing each node's allocations. Both ways must decide exactly
 * the same: random clusters, jobs of mixed priorities (so plans stop and preempt), and
 * at every step the plan and the plan applier's verdict are compared with and without it.
 */

/**
 * `state` plus `nodeUsage`/`alloc`, the usage summed afresh on every call (the reference).
 * Its sets refuse writes: the tracker must only read them (overlay.ts).
 */
function withUsage(state: TestState): SchedulerState {
  return {
    job: (ns, n) => state.job(ns, n),
    nodes: () => state.nodes(),
    node: (id) => state.node(id),
    allocsByNode: (id) => state.allocsByNode(id),
    allocsByJob: (ns, n) => state.allocsByJob(ns, n),
    jobVersion: (ns, n, v) => state.jobVersion(ns, n, v),
    alloc: (id) => state.alloc(id),
    nodeUsage: (id: NodeId): NodeUsageSnapshot => {
      let cpuMhz = 0;
      let memoryMb = 0;
      const ports = new Set<number>();
      const groups = new Map<string, number>();
      for (const a of state.allocsByNode(id)) {
        if (!isLive(a)) continue;
        cpuMhz += a.resources.cpuMhz;
        memoryMb += a.resources.memoryMb;
        for (const p of a.ports) ports.add(p.host);
        groups.set(groupKey(a), (groups.get(groupKey(a)) ?? 0) + 1);
      }
      return { cpuMhz, memoryMb, ports: readOnlySet(ports), groups: readOnlyMap(groups) };
    },
  };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;

function randomJob(rng: Rng, name: string, version: number) {
  return aJob({
    name,
    version,
    priority: pick(rng, [10, 30, 50, 90]),
    placement: rng.next() < 0.3 ? 'spread' : 'binpack',
    groups: [
      aGroup({
        name: 'g',
        count: rng.int(0, 6),
        tasks: [
          aTask({
            resources: { cpuMhz: rng.int(2, 15) * 100, memoryMb: rng.int(2, 16) * 64 },
            ports: rng.next() < 0.3 ? [{ label: 'http', to: 80, static: 8080 }] : rng.next() < 0.5 ? [{ label: 'dyn', to: 81 }] : [],
          }),
        ],
      }),
    ],
  });
}

/** A plan for a stale snapshot, as a racing worker would submit: verify it against the newer state both ways. */
function compareVerdicts(state: TestState, plan: Plan, what: string): void {
  assert.deepEqual(verifyPlan(withUsage(state), plan), verifyPlan(state, plan), `${what}: verifyPlan differs with nodeUsage`);
}

/**
 * Anti-affinity reads a group's copies per node from JobCounts (schedule.ts), not from
 * each node's `groups`: both must count the same, before and after the plan's placements.
 */
function sameCopies(state: SchedulerState, plan: Plan, what: string): void {
  const job = state.job(plan.namespace, plan.jobName);
  if (job === undefined) return;
  const stopping = new Set(plan.stop.map((s) => s.allocId));
  const usage = new UsageTracker(state, stopping);
  const counts = new JobCounts(state, job, stopping);
  const compare = (when: string) => {
    for (const g of job.groups) {
      const key = groupKey({ namespace: job.namespace, jobName: job.name, group: g.name });
      for (const n of state.nodes()) assert.equal(counts.liveOnNodes(g.name).get(n.id) ?? 0, usage.of(n.id).groups.get(key) ?? 0, `${what} ${when}: copies of ${g.name} on ${n.name}`);
    }
  };
  compare('before placing');
  for (const a of plan.place) {
    usage.add(a);
    counts.add(a);
  }
  compare('after placing');
}

describe('UsageTracker over the state’s shared sets', () => {
  it('stops, a preemption and placements answer as copies of the sets would; the sets are never written', () => {
    const node = aNode({ name: 'shared', portRange: { min: 31000, max: 31003 } });
    const low = aJob({ name: 'low', priority: 10 });
    const high = aJob({ name: 'high', priority: 90 });
    const port = (host: number) => ({ task: 'main', label: `p${host}`, host, to: 80 });
    const a1 = anAlloc({ job: low, node, ports: [port(31000), port(8080)] });
    const a2 = anAlloc({ job: low, node, index: 1, ports: [port(31001)] });
    const a3 = anAlloc({ job: high, node, ports: [port(31002)] });
    const plain = aState({ nodes: [node], jobs: [low, high], allocs: [a1, a2, a3] });
    const state = withUsage(plain);
    const base = state.nodeUsage!(node.id);
    const frozen = { ports: [...base.ports], groups: [...base.groups] };
    const sharedState: SchedulerState = { ...state, nodeUsage: () => base };
    // The reference: what the tracker did before overlays, on copies.
    const ports = new Set(base.ports);
    const groups = new Map(base.groups);
    const bump = (k: string, d: number) => (groups.get(k) ?? 0) + d > 0 ? groups.set(k, (groups.get(k) ?? 0) + d) : groups.delete(k);
    const tracker = new UsageTracker(sharedState, new Set([a1.id]));
    const same = (when: string) => {
      const u = tracker.of(node.id);
      for (let p = 30998; p <= 31005; p++) assert.equal(u.ports.has(p), ports.has(p), `${when}: port ${p}`);
      assert.equal(u.ports.has(8080), ports.has(8080), `${when}: port 8080`);
      assert.equal(u.ports.countIn(31000, 31003), [...ports].filter((p) => p >= 31000 && p <= 31003).length, `${when}: ports in range`);
      for (const k of [groupKey(a1), groupKey(a3), 'default/none/web']) assert.equal(u.groups.get(k), groups.get(k), `${when}: group ${k}`);
    };

    // a1 is stopped by the plan: its ports and its copy are free from the start.
    for (const p of a1.ports) ports.delete(p.host);
    bump(groupKey(a1), -1);
    same('with a1 stopped');
    // a2 is preempted: the last copy of low's group goes (to zero), its port is released.
    tracker.release(a2);
    ports.delete(31001);
    bump(groupKey(a2), -1);
    same('a2 preempted');
    tracker.release(a2);
    same('a2 released twice');
    // A placement takes a1's freed ports again, and one that was never taken.
    const placed = { ...anAlloc({ job: high, node, index: 1, ports: [port(31000), port(8080), port(31003)] }) };
    tracker.add(placed);
    for (const p of placed.ports) ports.add(p.host);
    bump(groupKey(placed), 1);
    same('placed on freed ports');
    // And low's group counts again from one.
    const back = anAlloc({ job: low, node, index: 2, ports: [port(31001)] });
    tracker.add(back);
    ports.add(31001);
    bump(groupKey(back), 1);
    same('low placed again');

    assert.deepEqual({ ports: [...base.ports], groups: [...base.groups] }, frozen);
  });

  it('preemption through schedule and verifyPlan leaves the state’s sets as they were', () => {
    const node = aNode({ name: 'tight', resources: { cpuMhz: 2000, memoryMb: 2048 }, portRange: { min: 31000, max: 31001 } });
    const low = aJob({ name: 'low', priority: 10, group: { count: 2, tasks: [aTask({ resources: { cpuMhz: 1000, memoryMb: 1024 }, ports: [{ label: 'd', to: 80 }] })] } });
    const high = aJob({ name: 'high', priority: 90, group: { count: 1, tasks: [aTask({ resources: { cpuMhz: 1000, memoryMb: 1024 }, ports: [{ label: 'd', to: 80 }] })] } });
    const port = (host: number) => ({ task: 'main', label: 'd', host, to: 80 });
    const plain = aState({
      nodes: [node],
      jobs: [low, high],
      allocs: [anAlloc({ job: low, node, ports: [port(31000)] }), anAlloc({ job: low, node, index: 1, ports: [port(31001)] })],
    });
    const state = withUsage(plain);
    const base = state.nodeUsage!(node.id);
    const before = { ports: [...base.ports], groups: [...base.groups] };
    const shared: SchedulerState = { ...state, nodeUsage: () => base };
    const plan = schedule(shared, anEval(high), aContext({ seed: 'shared' }));
    assert.equal(plan.place.length, 1);
    assert.equal(plan.preempt?.length, 1, 'made room by preempting one of low');
    assert.deepEqual(plan, schedule(plain, anEval(high, { id: plan.evalId }), aContext({ seed: 'shared' })), 'as without nodeUsage');
    const verdict = verifyPlan(shared, plan);
    assert.equal(verdict.ok.length, 1);
    assert.deepEqual({ ports: [...base.ports], groups: [...base.groups] }, before);
  });
});

describe('UsageTracker: nodeUsage from the state decides like summing allocations', () => {
  const total = { preempted: 0 };
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: same plans and same verdicts`, () => {
      const rng = seededRng(seed);
      const state = aState({
        nodes: Array.from({ length: 5 }, (_, i) => aNode({ name: `u${i}`, resources: { cpuMhz: rng.int(2, 6) * 1000, memoryMb: rng.int(2, 6) * 1024 }, portRange: { min: 31000 + i * 10, max: 31000 + i * 10 + 4 } })),
      });
      const names = Array.from({ length: 6 }, (_, i) => `j${i}`);
      let now = T0;
      let placed = 0;
      let preempted = 0;
      let stale: Plan | undefined;
      for (let step = 0; step < 150; step++) {
        now += 60_000;
        const roll = rng.next();
        const name = pick(rng, names);
        if (roll < 0.6) {
          const prev = state.job('default', name);
          state.putJob(randomJob(rng, name, prev ? prev.version + 1 : 0));
        } else if (roll < 0.8) {
          const running = state.allocs().filter((a) => a.clientStatus === 'running');
          if (running.length > 0) state.setClientStatus(pick(rng, running).id, pick(rng, ['failed', 'complete'] as const));
        } else {
          const node = pick(rng, state.nodes());
          state.putNode({ ...node, ...pick(rng, [{ status: 'down' as const }, { status: 'ready' as const }, { drain: rng.next() < 0.5 }]) });
        }
        if (!state.job('default', name)) continue;
        const ctx = () => aContext({ seed: `${seed}-${step}`, now });
        const evaluation = anEval({ namespace: 'default', name });
        const plan = schedule(state, evaluation, ctx());
        assert.deepEqual(schedule(withUsage(state), evaluation, ctx()), plan, `step ${step}: plans differ with nodeUsage`);
        sameCopies(withUsage(state), plan, `step ${step}`);
        compareVerdicts(state, plan, `step ${step}`);
        if (stale) compareVerdicts(state, stale, `step ${step} (stale plan)`);
        // Every fourth plan is kept back and verified later, against a state that moved on.
        if (step % 4 === 0) stale = plan;
        placed += plan.place.length;
        preempted += plan.preempt?.length ?? 0;
        state.apply(plan, now);
        for (const a of state.allocs()) if (a.desiredStatus === 'stop' && a.clientStatus === 'running' && rng.next() < 0.7) state.setClientStatus(a.id, 'complete');
      }
      assert.ok(placed > 30, `placed ${placed}`);
      total.preempted += preempted;
    });
  }
  it('exercised preemption (not a vacuous comparison)', () => assert.ok(total.preempted > 0, `preempted ${total.preempted}`));
});
