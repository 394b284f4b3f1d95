import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { schedule } from './schedule.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState, aTask } from './testing/builders.js';
import { verifyPlan } from './verify.js';

describe('verifyPlan', () => {
  it('accepts a plan made on the current state', () => {
    const job = aJob({ group: { count: 2 } });
    const state = aState({ nodes: [aNode(), aNode()], jobs: [job] });
    const plan = schedule(state, anEval(job), aContext());
    const v = verifyPlan(state, plan);
    assert.deepEqual(v.rejected, []);
    assert.deepEqual(v.ok, plan.place);
  });

  it('rejects what a concurrent plan already took: memory', () => {
    const node = aNode({ name: 'n-small', resources: { cpuMhz: 4000, memoryMb: 600 } });
    const a = aJob({ name: 'a', group: { count: 2 } }); // 2 × 256 MB
    const b = aJob({ name: 'b', group: { count: 2 } });
    const state = aState({ nodes: [node], jobs: [a, b] });
    // Both schedulers read the same snapshot…
    const planA = schedule(state, anEval(a), aContext({ seed: 'a' }));
    const planB = schedule(state, anEval(b), aContext({ seed: 'b' }));
    assert.equal(planA.place.length, 2);
    assert.equal(planB.place.length, 2);
    // …A commits first; B is then stale.
    assert.equal(verifyPlan(state, planA).rejected.length, 0);
    state.apply(planA);
    const v = verifyPlan(state, planB);
    assert.equal(v.ok.length, 0);
    assert.deepEqual(
      v.rejected.map((r) => r.reason),
      ['node n-small: not enough memory (needs 256 MB, free 88 MB)', 'node n-small: not enough memory (needs 256 MB, free 88 MB)'],
    );
  });

  it('rejects host port collisions with a concurrent plan, and accepts the part that fits', () => {
    const n1 = aNode({ name: 'n-one' });
    const job = (name: string, count: number) => aJob({ name, group: { count, tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] } });
    const a = job('a', 1);
    const b = job('b', 1);
    const state = aState({ nodes: [n1], jobs: [a, b] });
    const planA = schedule(state, anEval(a), aContext({ seed: 1 }));
    const planB = schedule(state, anEval(b), aContext({ seed: 2 }));
    state.apply(planA);
    const v = verifyPlan(state, planB);
    assert.deepEqual(v.rejected.map((r) => r.reason), ['node n-one: host port 8080 already in use']);

    // Dynamic ports too: a plan carrying a port some other allocation now holds.
    const dyn = aJob({ name: 'dyn', group: { tasks: [aTask({ ports: [{ label: 'http', to: 80 }] })] } });
    state.putJob(dyn);
    const planDyn = schedule(state, anEval(dyn), aContext({ seed: 3 }));
    const host = planDyn.place[0]!.ports[0]!.host;
    state.putAlloc(anAlloc({ job: aJob({ name: 'squatter' }), node: n1, ports: [{ task: 'main', label: 'x', host, to: 1 }] }));
    assert.deepEqual(verifyPlan(state, planDyn).rejected.map((r) => r.reason), [`node n-one: host port ${host} already in use`]);
  });

  it('rejects placements on a node that stopped taking work', () => {
    const node = aNode({ name: 'n-drained' });
    const job = aJob();
    const state = aState({ nodes: [node], jobs: [job] });
    const plan = schedule(state, anEval(job), aContext());
    state.putNode({ ...node, drain: true });
    assert.deepEqual(verifyPlan(state, plan).rejected.map((r) => r.reason), ['node n-drained no longer takes new work (draining)']);
    state.putNode({ ...node, status: 'down' });
    assert.deepEqual(verifyPlan(state, plan).rejected.map((r) => r.reason), ['node n-drained no longer takes new work (down)']);
  });

  it('does not count a plan against itself when it was already written', () => {
    const node = aNode({ resources: { cpuMhz: 4000, memoryMb: 300 } });
    const job = aJob();
    const state = aState({ nodes: [node], jobs: [job] });
    const plan = schedule(state, anEval(job), aContext());
    state.apply(plan);
    assert.equal(verifyPlan(state, plan).ok.length, 1);
  });

  it('counts the plan\'s own stops as freed', () => {
    const node = aNode({ resources: { cpuMhz: 4000, memoryMb: 300 } });
    const v0 = aJob();
    const old = anAlloc({ job: v0, node });
    const v1 = aJob({ version: 1, group: { tasks: [aTask({ image: 'new:1' })] } });
    const state = aState({ nodes: [node], jobs: [v0, v1], allocs: [old] });
    const plan = schedule(state, anEval(v1), aContext());
    assert.equal(plan.place.length, 1);
    assert.deepEqual(verifyPlan(state, plan).rejected, []);
  });
});
