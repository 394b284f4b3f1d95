import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLive } from '../core/alloc.js';
import type { Constraint, Job, Task } from '../core/job.js';
import type { Node } from '../core/node.js';
import { seededRng } from '../lib/rng.js';
import type { Rng } from '../lib/rng.js';
import { constraintHolds } from './constraints.js';
import { schedule } from './schedule.js';
import type { Sampling } from './types.js';
import { aContext, aGroup, aJob, anEval, aNode, aState, aTask, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

/**
 * Many random evaluations applied one after another (jobs registered, updated, scaled,
 * stopped; nodes going down, draining, coming back; allocations failing). After every
 * step: no node over capacity, no host port twice on a node, constraints hold, and no
 * group runs more than its count.
 */

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
const CONSTRAINTS: Constraint[] = [
  { attribute: '${attr.docker.version}', operator: '>=', value: '20.10.10' },
  { attribute: '${label.zone}', operator: '!=', value: 'c' },
  { attribute: '${label.zone}', operator: 'regexp', value: '^[ab]$' },
  { attribute: '${label.ssd}', operator: 'is_set' },
  { attribute: '${attr.cpu.cores}', operator: '>', value: '2' },
];

function randomNode(rng: Rng, i: number): Node {
  const min = 30000 + i * 100;
  return aNode({
    name: `p${i}`,
    resources: { cpuMhz: rng.int(1, 8) * 1000, memoryMb: rng.int(1, 8) * 1024 },
    attributes: { 'docker.version': pick(rng, ['19.03.15', '20.10.3', '20.10.24', '23.0.1']), 'cpu.cores': String(rng.int(1, 16)) },
    labels: { zone: pick(rng, ['a', 'b', 'c']), ...(rng.next() < 0.5 ? { ssd: 'yes' } : {}) },
    portRange: { min, max: min + rng.int(3, 12) },
  });
}

function randomTask(rng: Rng, name: string): Task {
  const ports = Array.from({ length: rng.int(0, 2) }, (_, i) =>
    rng.next() < 0.3 ? { label: `p${i}`, to: 80 + i, static: pick(rng, [80, 443, 8080]) } : { label: `p${i}`, to: 80 + i },
  );
  return aTask({ name, image: pick(rng, ['img:1', 'img:2']), resources: { cpuMhz: rng.int(1, 15) * 100, memoryMb: rng.int(1, 16) * 64 }, ports });
}

function randomJob(rng: Rng, name: string, version: number): Job {
  const groups = Array.from({ length: rng.int(1, 2) }, (_, g) =>
    aGroup({
      name: `g${g}`,
      count: rng.int(0, 5),
      constraints: rng.next() < 0.4 ? [pick(rng, CONSTRAINTS)] : [],
      reschedule: { attempts: rng.int(0, 2), intervalMs: 600_000 },
      tasks: Array.from({ length: rng.int(1, 2) }, (_, t) => randomTask(rng, `t${t}`)),
    }),
  );
  return aJob({
    name,
    version,
    type: rng.next() < 0.2 ? 'batch' : 'service',
    placement: rng.next() < 0.3 ? 'spread' : 'binpack',
    constraints: rng.next() < 0.3 ? [pick(rng, CONSTRAINTS)] : [],
    groups,
  });
}

function checkInvariants(state: TestState, step: number): void {
  for (const node of state.nodes()) {
    const live = state.allocsByNode(node.id).filter(isLive);
    const cpu = live.reduce((n, a) => n + a.resources.cpuMhz, 0);
    const mem = live.reduce((n, a) => n + a.resources.memoryMb, 0);
    assert.ok(cpu <= node.resources.cpuMhz, `step ${step}: ${node.name} cpu ${cpu} > ${node.resources.cpuMhz}`);
    assert.ok(mem <= node.resources.memoryMb, `step ${step}: ${node.name} memory ${mem} > ${node.resources.memoryMb}`);
    const hosts = live.flatMap((a) => a.ports.map((p) => p.host));
    assert.equal(new Set(hosts).size, hosts.length, `step ${step}: duplicate host port on ${node.name}: ${hosts.join(',')}`);
  }
  for (const a of state.allocs()) {
    const job = state.job(a.namespace, a.jobName);
    if (!job || a.desiredStatus !== 'run' || !isLive(a) || a.jobVersion !== job.version) continue;
    const node = state.node(a.nodeId)!;
    const group = job.groups.find((g) => g.name === a.group)!;
    for (const c of [...job.constraints, ...group.constraints]) {
      assert.ok(constraintHolds(c, node), `step ${step}: ${a.jobName}.${a.group}[${a.index}] on ${node.name} breaks ${c.attribute} ${c.operator} ${c.value}`);
    }
  }
  for (const job of new Set(state.allocs().map((a) => a.jobName))) {
    const j = state.job('default', job)!;
    for (const g of j.groups) {
      const running = state.allocsByJob('default', job).filter((a) => a.group === g.name && a.desiredStatus === 'run' && isLive(a));
      assert.ok(running.length <= g.count, `step ${step}: ${job}.${g.name} runs ${running.length} > ${g.count}`);
      assert.equal(new Set(running.map((a) => a.index)).size, running.length, `step ${step}: ${job}.${g.name} duplicate index`);
    }
  }
}

function simulate(seed: number, steps: number, sampling: Sampling = 'limited'): { placed: number; failures: number } {
  const rng = seededRng(seed);
  const state = aState({ nodes: Array.from({ length: 6 }, (_, i) => randomNode(rng, i)) });
  const names = Array.from({ length: 8 }, (_, i) => `job${i}`);
  let now = T0;
  let placed = 0;
  let failures = 0;

  const evaluate = (name: string) => {
    const plan = schedule(state, anEval({ namespace: 'default', name }), aContext({ seed: `${seed}-${now}-${name}`, now, sampling }));
    for (const a of plan.place) {
      const node = state.node(a.nodeId)!;
      assert.equal(node.status === 'ready' && node.eligibility === 'eligible' && !node.drain, true, 'placed on a schedulable node');
    }
    placed += plan.place.length;
    failures += Object.keys(plan.failures).length;
    state.apply(plan, now);
    // The agent acts at once: stopped allocations release what they held.
    for (const a of state.allocs()) if (a.desiredStatus === 'stop' && (a.clientStatus === 'running' || a.clientStatus === 'pending')) state.setClientStatus(a.id, 'complete');
  };

  for (let step = 0; step < steps; step++) {
    now += 60_000;
    const roll = rng.next();
    if (roll < 0.45) {
      const name = pick(rng, names);
      const prev = state.job('default', name);
      state.putJob(randomJob(rng, name, prev ? prev.version + 1 : 0));
      evaluate(name);
    } else if (roll < 0.55) {
      const name = pick(rng, names);
      const prev = state.job('default', name);
      if (prev) state.putJob({ ...prev, stopped: true, version: prev.version + 1 });
      evaluate(name);
    } else if (roll < 0.7) {
      const node = pick(rng, state.nodes());
      const change = pick(rng, [{ status: 'down' as const }, { status: 'ready' as const, drain: false }, { drain: true }, { eligibility: 'ineligible' as const }, { eligibility: 'eligible' as const }]);
      state.putNode({ ...node, ...change });
      for (const name of names) if (state.job('default', name)) evaluate(name);
    } else if (roll < 0.9) {
      const running = state.allocs().filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');
      if (running.length > 0) {
        const a = pick(rng, running);
        state.setClientStatus(a.id, rng.next() < 0.8 ? 'failed' : 'complete');
        evaluate(a.jobName);
      }
    } else {
      // A scale change only: in place for what runs, new indexes for the rest.
      const name = pick(rng, names);
      const prev = state.job('default', name);
      if (prev) {
        state.putJob({ ...prev, version: prev.version + 1, groups: prev.groups.map((g) => ({ ...g, count: rng.int(0, 6) })) });
        evaluate(name);
      }
    }
    checkInvariants(state, step);
  }
  return { placed, failures };
}

describe('schedule: properties over many evaluations', () => {
  const runs = [1, 2, 3, 4, 5].map((seed) => ({ seed, sampling: 'limited' as Sampling })).concat([1, 2].map((seed) => ({ seed, sampling: 'full' as Sampling })));
  for (const { seed, sampling } of runs) {
    it(`seed ${seed} (${sampling} sampling): never overcommits, never reuses a port, keeps constraints`, () => {
      const { placed, failures } = simulate(seed, 250, sampling);
      // Guard against a vacuous run: the simulation must actually place and fail things.
      assert.ok(placed > 50, `placed ${placed}`);
      assert.ok(failures > 0, `failures ${failures}`);
    });
  }
});
