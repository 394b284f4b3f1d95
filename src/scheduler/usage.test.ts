import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLive } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import { seededRng } from '../lib/rng.js';
import type { Rng } from '../lib/rng.js';
import { schedule } from './schedule.js';
import type { NodeUsageSnapshot, Plan, SchedulerState } from './types.js';
import { aContext, aGroup, aJob, anEval, aNode, aState, aTask, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import { groupKey } from './usage.js';
import { verifyPlan } from './verify.js';

/**
 * The read model answers `nodeUsage` from counters it keeps (store/state-index.ts); the
 * scheduler then skips summing each node's allocations. Both ways must decide exactly
 * the same: random clusters, jobs of mixed priorities (so plans stop and preempt), and
 * at every step the plan and the plan applier's verdict are compared with and without it.
 */

/** `state` plus `nodeUsage`/`alloc`, the usage summed afresh on every call (the reference). */
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
      return { cpuMhz, memoryMb, ports, groups };
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
