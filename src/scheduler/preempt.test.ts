import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocView } from '../core/alloc.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { describeFailure } from './failure.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState, aTask } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import { verifyPlan } from './verify.js';

/** A job whose one allocation asks `cpu` MHz and `mem` MB. */
const sized = (name: string, priority: number, cpu: number, mem: number, o: Partial<Job> & { count?: number } = {}) => {
  const { count = 1, ...rest } = o;
  return aJob({ name, priority, version: 1, group: { count, tasks: [aTask({ resources: { cpuMhz: cpu, memoryMb: mem } })] }, ...rest });
};
/** Puts `n` running allocations of `job` on `node`. */
const fill = (state: TestState, job: Job, node: Node, n = 1): AllocView[] => {
  state.putJob(job);
  return Array.from({ length: n }, (_, i) => {
    const a = anAlloc({ job, node, index: state.allocsByJob(job.namespace, job.name).length + i });
    state.putAlloc(a);
    return a;
  });
};
const run = (state: TestState, job: Job, seed: string | number = 'p') => {
  state.putJob(job);
  return schedule(state, anEval(job), aContext({ seed }));
};

describe('preemption: when it happens', () => {
  it('a service job stops one lower-priority allocation to make room, and says for which placement', () => {
    const node = aNode({ name: 'full' });
    const state = aState({ nodes: [node] });
    fill(state, sized('low', 20, 2000, 2048), node, 2);
    const plan = run(state, sized('high', 50, 1000, 1000));
    assert.deepEqual(plan.failures, {});
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.nodeName, 'full');
    assert.equal(plan.preempt?.length, 1);
    const p = plan.preempt![0]!;
    assert.equal(p.jobName, 'low');
    assert.equal(p.priority, 20);
    assert.equal(p.nodeId, node.id);
    assert.equal(p.forAllocId, plan.place[0]!.id);
    assert.ok(state.allocsByJob('default', 'low').some((a) => a.id === p.allocId));
  });

  it('only allocations of jobs at least 10 priority lower; batch jobs never preempt', () => {
    const node = aNode({ name: 'full' });
    const state = aState({ nodes: [node] });
    fill(state, sized('close', 41, 4000, 4096), node);
    const plan = run(state, sized('high', 50, 1000, 1000));
    assert.equal(plan.preempt, undefined);
    assert.match(describeFailure(plan.failures.web!), /not enough cpu/);

    const s2 = aState({ nodes: [node] });
    fill(s2, sized('low', 10, 4000, 4096), node);
    const batch = run(s2, sized('batch', 90, 1000, 1000, { type: 'batch' }));
    assert.equal(batch.preempt, undefined);
    assert.equal(batch.failures.web?.unplaced, 1);

    const s3 = aState({ nodes: [node] });
    fill(s3, sized('low', 40, 4000, 4096), node);
    assert.equal(run(s3, sized('high', 50, 1000, 1000)).preempt?.length, 1, 'exactly 10 lower may be preempted');
  });

  it('explains a failure when lower-priority allocations would not make enough room', () => {
    const node = aNode({ name: 'n', resources: { cpuMhz: 4000, memoryMb: 4096 } });
    const state = aState({ nodes: [node] });
    fill(state, sized('low', 10, 1000, 1024), node);
    fill(state, sized('mid', 45, 3000, 3072), node);
    const plan = run(state, sized('high', 50, 2500, 2048));
    assert.equal(plan.preempt, undefined);
    assert.match(plan.failures.web!.explanations.at(-1)!, /^no preemption: stopping allocations of priority ≤ 40 would not make room on the 1 node holding some$/);
  });

  it('never preempts the job’s own allocations, nor those already stopping', () => {
    const node = aNode({ name: 'n' });
    const state = aState({ nodes: [node] });
    const [old] = fill(state, sized('low', 10, 4000, 4096), node);
    state.putAlloc({ ...old!, desiredStatus: 'stop' }); // stopping, still running: holds its room
    const plan = run(state, sized('high', 60, 1000, 1000));
    assert.equal(plan.preempt, undefined);
    assert.equal(plan.failures.web?.unplaced, 1);
  });
});

describe('preemption: which allocations', () => {
  it('the fewest allocations first, even of higher priority', () => {
    const [a, b] = [aNode({ name: 'many-small' }), aNode({ name: 'one-big' })];
    const state = aState({ nodes: [a, b] });
    fill(state, sized('small', 10, 1000, 1024), a, 4);
    fill(state, sized('big', 30, 4000, 4096), b);
    const plan = run(state, sized('high', 80, 2000, 2048));
    assert.deepEqual(plan.preempt?.map((p) => p.jobName), ['big']);
    assert.equal(plan.place[0]!.nodeName, 'one-big');
  });

  it('then the least total priority, then the least room freed beyond the need', () => {
    for (const seed of [1, 2, 3]) {
      const [a, b] = [aNode({ name: 'p30' }), aNode({ name: 'p20' })];
      const state = aState({ nodes: [a, b] });
      fill(state, sized('j30', 30, 4000, 4096), a);
      fill(state, sized('j20', 20, 4000, 4096), b);
      assert.deepEqual(run(state, sized('high', 80, 2000, 2048), seed).preempt?.map((p) => p.jobName), ['j20'], `seed ${seed}`);

      const [c, d] = [aNode({ name: 'whole' }), aNode({ name: 'half' })];
      const s2 = aState({ nodes: [c, d] });
      fill(s2, sized('whole', 20, 4000, 4096), c);
      fill(s2, sized('half', 20, 2000, 2048), d);
      fill(s2, sized('keep', 75, 2000, 2048), d); // too close in priority to preempt
      const plan = run(s2, sized('high', 80, 2000, 2048), seed);
      assert.deepEqual(plan.preempt?.map((p) => p.jobName), ['half'], `seed ${seed}`);
      assert.equal(plan.place[0]!.nodeName, 'half');
    }
  });

  it('on a node: the lowest priority that makes room, and no more than needed', () => {
    const node = aNode({ name: 'n' });
    const state = aState({ nodes: [node] });
    fill(state, sized('p30', 30, 1000, 1024), node, 2);
    fill(state, sized('p10', 10, 1000, 1024), node, 2);
    const plan = run(state, sized('high', 50, 1500, 1500));
    assert.deepEqual(plan.preempt?.map((p) => `${p.jobName}:${p.priority}`), ['p10:10', 'p10:10']);
    const one = run(state, sized('high2', 50, 800, 800));
    assert.deepEqual(one.preempt?.map((p) => p.jobName), ['p10']);
  });

  it('a static port is freed only by stopping its holder', () => {
    const node = aNode({ name: 'n' });
    const state = aState({ nodes: [node] });
    const holderJob = aJob({ name: 'holder', priority: 10, version: 1, group: { tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] } });
    state.putJob(holderJob);
    const holder = anAlloc({ job: holderJob, node, ports: [{ task: 'main', label: 'http', host: 8080, to: 80 }] });
    state.putAlloc(holder);
    fill(state, sized('other', 10, 100, 100), node);
    const web = aJob({ name: 'web', priority: 70, version: 1, group: { tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] } });
    const plan = run(state, web);
    assert.deepEqual(plan.preempt?.map((p) => p.allocId), [holder.id]);
    assert.deepEqual(plan.place[0]!.ports.map((p) => p.host), [8080]);
  });

  it('several placements preempt distinct allocations, and the plan never overcommits', () => {
    const node = aNode({ name: 'n' });
    const state = aState({ nodes: [node] });
    fill(state, sized('low', 10, 1000, 1024), node, 4);
    const plan = run(state, sized('high', 50, 1000, 1024, { count: 3 }));
    assert.equal(plan.place.length, 3);
    assert.equal(new Set(plan.preempt!.map((p) => p.allocId)).size, 3);
    assert.deepEqual(verifyPlan(state, plan).rejected, []);
  });
});

describe('preemption: applying and afterwards', () => {
  it('verifyPlan counts the victims as freed, and drops the victims of a rejected placement', () => {
    const node = aNode({ name: 'n' });
    const state = aState({ nodes: [node] });
    fill(state, sized('low', 10, 4000, 4096), node);
    const plan = run(state, sized('high', 50, 1000, 1000));
    const v = verifyPlan(state, plan);
    assert.equal(v.ok.length, 1);
    assert.deepEqual(v.preempt, plan.preempt);

    state.putNode({ ...node, drain: true });
    const stale = verifyPlan(state, plan);
    assert.equal(stale.ok.length, 0);
    assert.deepEqual(stale.preempt, []);
  });

  it('no ping-pong: the preempted job is placed elsewhere or waits, never displacing the preemptor', () => {
    const node = aNode({ name: 'only' });
    const state = aState({ nodes: [node] });
    const low = sized('low', 10, 3000, 3000);
    fill(state, low, node);
    const high = sized('high', 50, 3000, 3000);
    const plan = run(state, high);
    state.apply(plan);
    const victim = state.allocsByJob('default', 'low')[0]!;
    assert.equal(victim.desiredStatus, 'stop');
    assert.equal(victim.desiredDescription, 'preempted by job high (priority 50)');
    assert.equal(victim.preemptedBy?.byAllocId, plan.place[0]!.id);

    // The victim's job is evaluated while the victim still shuts down, and after it failed on being killed.
    for (const status of ['running', 'failed'] as const) {
      state.setClientStatus(victim.id, status);
      const again = run(state, low);
      assert.equal(again.preempt, undefined, status);
      assert.equal(again.failures.web?.unplaced, 1, `${status}: the index is free to refill, but there is no room`);
    }
    // With a second node it is simply placed there.
    state.putNode(aNode({ name: 'spare' }));
    const moved = run(state, low);
    assert.equal(moved.place[0]?.nodeName, 'spare');
  });
});
