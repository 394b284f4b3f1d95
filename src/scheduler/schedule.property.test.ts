import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLive } from '../core/alloc.js';
import type { Constraint, Job, Task } from '../core/job.js';
import type { Node } from '../core/node.js';
import { seededRng } from '../lib/rng.js';
import type { Rng } from '../lib/rng.js';
import { constraintHolds, resolveTarget } from './constraints.js';
import { PREEMPTION_PRIORITY_GAP } from './preempt.js';
import { schedule } from './schedule.js';
import { desiredCounts } from './spread.js';
import type { Plan, Sampling } from './types.js';
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

/**
 * Issue 5's rules over many small random clusters: jobs of random priorities with
 * distinct_hosts / distinct_property, affinities and spreads, preempting each other.
 * After every step: no node over capacity (victims and stopped allocations finish at
 * once, as an agent would), every distinct_* rule holds, and every preemption evicted an
 * allocation of another job at least PREEMPTION_PRIORITY_GAP lower, for a service job.
 */
const ZONES = ['a', 'b', 'c'];
const PRIORITIES = [10, 20, 30, 50, 70, 90];

function ruleNode(rng: Rng, i: number): Node {
  return aNode({
    name: `r${i}`,
    resources: { cpuMhz: rng.int(2, 8) * 1000, memoryMb: rng.int(2, 8) * 1024 },
    labels: { ...(rng.next() < 0.9 ? { zone: pick(rng, ZONES) } : {}), rack: `k${rng.int(1, 4)}` },
    portRange: { min: 40000 + i * 100, max: 40000 + i * 100 + rng.int(2, 8) },
  });
}

/** Job `i`'s rules are fixed by its index, so an update never adds a rule its running allocations predate. */
function ruleJob(rng: Rng, i: number, version: number): Job {
  const shape = i % 4;
  const jobRules: Constraint[] = shape === 0 ? [{ attribute: '', operator: 'distinct_hosts' }] : shape === 1 ? [{ attribute: '${label.zone}', operator: 'distinct_property', value: '2' }] : [];
  const groupRules: Constraint[] = shape === 2 ? [{ attribute: '${label.rack}', operator: 'distinct_property' }] : [];
  const task = aTask({
    image: pick(rng, ['img:1', 'img:2']),
    resources: { cpuMhz: rng.int(2, 20) * 100, memoryMb: rng.int(2, 24) * 64 },
    ports: rng.next() < 0.2 ? [{ label: 'http', to: 80, static: 8080 }] : rng.next() < 0.3 ? [{ label: 'dyn', to: 81 }] : [],
  });
  return aJob({
    name: `rj${i}`,
    version,
    priority: pick(rng, PRIORITIES),
    type: rng.next() < 0.2 ? 'batch' : 'service',
    constraints: jobRules,
    ...(rng.next() < 0.3 ? { affinities: [{ attribute: '${label.zone}', operator: '=', value: pick(rng, ZONES), weight: pick(rng, [-50, 30, 100]) }] } : {}),
    ...(shape === 3 ? { spreads: [{ attribute: '${label.zone}', weight: rng.int(1, 100), targets: rng.next() < 0.5 ? [] : [{ value: 'a', percent: 50 }] }] } : {}),
    groups: [aGroup({ name: 'g', count: rng.int(1, 5), constraints: groupRules, tasks: [task] })],
  });
}

function checkRules(state: TestState, where: string): void {
  for (const node of state.nodes()) {
    const live = state.allocsByNode(node.id).filter(isLive);
    assert.ok(live.reduce((n, a) => n + a.resources.cpuMhz, 0) <= node.resources.cpuMhz, `${where}: ${node.name} cpu over capacity`);
    assert.ok(live.reduce((n, a) => n + a.resources.memoryMb, 0) <= node.resources.memoryMb, `${where}: ${node.name} memory over capacity`);
    const hosts = live.flatMap((a) => a.ports.map((p) => p.host));
    assert.equal(new Set(hosts).size, hosts.length, `${where}: duplicate host port on ${node.name}`);
  }
  for (const job of new Set(state.allocs().map((a) => a.jobName))) {
    const j = state.job('default', job);
    if (!j) continue;
    const running = state.allocsByJob('default', job).filter((a) => a.desiredStatus === 'run' && isLive(a));
    const rules = [...j.constraints.map((c) => ({ c, group: undefined as string | undefined })), ...j.groups.flatMap((g) => g.constraints.map((c) => ({ c, group: g.name as string | undefined })))];
    for (const { c, group } of rules) {
      const scoped = running.filter((a) => group === undefined || a.group === group);
      if (c.operator === 'distinct_hosts') {
        assert.equal(new Set(scoped.map((a) => a.nodeId)).size, scoped.length, `${where}: ${job} breaks distinct_hosts`);
      }
      if (c.operator === 'distinct_property') {
        const per = new Map<string | undefined, number>();
        for (const a of scoped) {
          const v = resolveTarget(c.attribute, state.node(a.nodeId)!);
          assert.notEqual(v, undefined, `${where}: ${job} on a node without ${c.attribute}`);
          per.set(v, (per.get(v) ?? 0) + 1);
        }
        for (const [v, n] of per) assert.ok(n <= Number(c.value ?? '1'), `${where}: ${job} has ${n} on ${c.attribute} = ${v}`);
      }
    }
  }
}

function checkPreemptions(state: TestState, plan: Plan, where: string): void {
  const preemptor = state.job(plan.namespace, plan.jobName)!;
  for (const p of plan.preempt ?? []) {
    const victim = state.alloc(p.allocId)!;
    const victimJob = state.job(victim.namespace, victim.jobName)!;
    assert.equal(preemptor.type, 'service', `${where}: only services preempt`);
    assert.notEqual(victim.jobName, plan.jobName, `${where}: preempted its own allocation`);
    assert.equal(p.priority, victimJob.priority);
    assert.ok(victimJob.priority <= preemptor.priority - PREEMPTION_PRIORITY_GAP, `${where}: ${plan.jobName}(${preemptor.priority}) preempted ${victim.jobName}(${victimJob.priority})`);
    assert.equal(victim.desiredStatus, 'run', `${where}: preempted an allocation already stopping`);
    assert.ok(plan.place.some((a) => a.id === p.forAllocId && a.nodeId === victim.nodeId), `${where}: preemption for a placement elsewhere`);
  }
}

function simulateRules(seed: number, steps: number): { placed: number; preempted: number } {
  const rng = seededRng(`rules-${seed}`);
  const state = aState({ nodes: Array.from({ length: rng.int(3, 8) }, (_, i) => ruleNode(rng, i)) });
  const count = 6;
  let now = T0;
  let placed = 0;
  let preempted = 0;
  const evaluate = (name: string, step: number) => {
    const plan = schedule(state, anEval({ namespace: 'default', name }), aContext({ seed: `${seed}-${step}-${name}`, now }));
    checkPreemptions(state, plan, `seed ${seed} step ${step} ${name}`);
    placed += plan.place.length;
    preempted += plan.preempt?.length ?? 0;
    state.apply(plan, now);
    for (const a of state.allocs()) if (a.desiredStatus === 'stop' && (a.clientStatus === 'running' || a.clientStatus === 'pending')) state.setClientStatus(a.id, 'complete');
    // The applier's evaluations for the preempted jobs.
    return [...new Set((plan.preempt ?? []).map((p) => p.jobName))];
  };
  for (let step = 0; step < steps; step++) {
    now += 60_000;
    const roll = rng.next();
    let todo: string[] = [];
    if (roll < 0.6) {
      const i = rng.int(0, count - 1);
      const prev = state.job('default', `rj${i}`);
      state.putJob(ruleJob(rng, i, prev ? prev.version + 1 : 1));
      todo = [`rj${i}`];
    } else if (roll < 0.7) {
      const prev = state.job('default', `rj${rng.int(0, count - 1)}`);
      if (prev) state.putJob({ ...prev, stopped: true, version: prev.version + 1 });
      if (prev) todo = [prev.name];
    } else if (roll < 0.85) {
      const running = state.allocs().filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');
      if (running.length > 0) {
        const a = pick(rng, running);
        state.setClientStatus(a.id, 'failed');
        todo = [a.jobName];
      }
    } else {
      const node = pick(rng, state.nodes());
      state.putNode({ ...node, ...pick(rng, [{ status: 'down' as const }, { status: 'ready' as const, drain: false }, { drain: true }]) });
      todo = Array.from({ length: count }, (_, i) => `rj${i}`).filter((n) => state.job('default', n) !== undefined);
    }
    // Evaluations, then those of the jobs they preempted (a bounded cascade).
    for (let round = 0; round < 4 && todo.length > 0; round++) {
      const next: string[] = [];
      for (const name of todo) next.push(...evaluate(name, step));
      checkRules(state, `seed ${seed} step ${step}`);
      todo = next;
    }
  }
  return { placed, preempted };
}

/** Fresh jobs with one spread block on roomy clusters: every value present ends within one allocation of its target. */
function spreadRun(seed: number): void {
  const rng = seededRng(`spread-${seed}`);
  const values = ['a', 'b', 'c', 'd'].slice(0, rng.int(2, 4));
  const nodes = values.flatMap((z) => Array.from({ length: rng.int(1, 5) }, (_, i) => aNode({ name: `${z}${i}`, labels: { zone: z }, resources: { cpuMhz: rng.int(8, 32) * 1000, memoryMb: 65536 } })));
  if (rng.next() < 0.3) nodes.push(aNode({ name: 'bare', resources: { cpuMhz: 64000, memoryMb: 65536 } }));
  let left = 100;
  const targets = rng.next() < 0.3 ? [] : values.filter(() => rng.next() < 0.5).map((value) => {
    const percent = rng.int(0, left);
    left -= percent;
    return { value, percent };
  });
  const spread = { attribute: '${label.zone}', weight: 100, targets };
  const job = aJob({ name: 'sp', spreads: [spread], group: { count: rng.int(1, 16), tasks: [aTask({ resources: { cpuMhz: rng.int(1, 10) * 100, memoryMb: rng.int(1, 8) * 128 } })] } });
  const state = aState({ nodes, jobs: [job] });
  const plan = schedule(state, anEval(job), aContext({ seed, sampling: rng.next() < 0.5 ? 'full' : 'limited' }));
  assert.deepEqual(plan.failures, {}, `seed ${seed}`);
  const desired = desiredCounts(spread, job.groups[0]!.count, nodes);
  const used = new Map<string, number>();
  for (const a of plan.place) {
    const z = state.node(a.nodeId)!.labels.zone ?? '-';
    used.set(z, (used.get(z) ?? 0) + 1);
  }
  for (const [v, d] of desired) {
    const u = used.get(v) ?? 0;
    assert.ok(Math.abs(u - d) <= 1 + 1e-9, `seed ${seed}: ${v} has ${u}, target ${d.toFixed(2)} (targets ${JSON.stringify(targets)}, placed ${JSON.stringify([...used])})`);
  }
}

describe('schedule: placement rules over random clusters (issue 5)', () => {
  it('200 clusters: never over capacity, distinct_* always hold, preemption only evicts lower priority', () => {
    let placed = 0;
    let preempted = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const r = simulateRules(seed, 20);
      placed += r.placed;
      preempted += r.preempted;
    }
    // Not vacuous: the runs place a lot and preempt now and then.
    assert.ok(placed > 2000, `placed ${placed}`);
    assert.ok(preempted > 20, `preempted ${preempted}`);
  });

  it('200 clusters: spread targets met within one allocation when capacity allows', () => {
    for (let seed = 1; seed <= 200; seed++) spreadRun(seed);
  });
});
