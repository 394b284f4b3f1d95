import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MigrateRequest } from '../core/alloc.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { MIGRATE_REASONS, readyAt } from './migrate.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

let runs = 0;
/** A fresh seed per run, so placements of successive runs get distinct ids. */
const run = (state: TestState, job: Job, now = T0) => schedule(state, anEval(job), aContext({ now, seed: `run${++runs}` }));
const drainMark = (o: Partial<MigrateRequest> = {}): MigrateRequest => ({ reason: 'drain', requestedAt: T0, started: true, why: 'node is draining', ...o });

/** Three copies on a draining node `d`, two empty nodes to go to. */
function drained(count = 3) {
  const d = aNode({ drain: true, eligibility: 'ineligible' });
  const x = aNode();
  const y = aNode();
  const job = aJob({ group: { count } });
  const allocs = Array.from({ length: count }, (_, i) => anAlloc({ job, node: d, index: i }));
  const state = aState({ nodes: [d, x, y], jobs: [job], allocs });
  return { d, x, y, job, allocs, state };
}

/** Running copies per index that the job counts (desired run, running, not set aside as stopped). */
function runningCount(state: TestState, job: Job): number {
  return state.allocsByJob(job.namespace, job.name).filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running').length;
}

describe('migrate: make before break', () => {
  it('a marked allocation keeps running while a replacement is placed elsewhere', () => {
    const { d, job, allocs, state } = drained();
    state.putAlloc({ ...allocs[0]!, migrate: drainMark() });
    const plan = run(state, job);
    assert.deepEqual(plan.stop, []);
    assert.equal(plan.place.length, 1);
    const r = plan.place[0]!;
    assert.equal(r.index, 0);
    assert.equal(r.previousAllocId, allocs[0]!.id);
    assert.notEqual(r.nodeId, d.id);
  });

  it('stops the old allocation only once its replacement runs', () => {
    const { job, allocs, state } = drained();
    state.putAlloc({ ...allocs[0]!, migrate: drainMark() });
    const plan = run(state, job);
    const r = plan.place[0]!;
    // Placed but not yet running: nothing more to do, the old one stays.
    state.apply(plan).setClientStatus(r.id, 'pending');
    const waiting = run(state, job);
    assert.deepEqual([waiting.place, waiting.stop], [[], []]);
    assert.equal(runningCount(state, job), 3);
    // Running: now the old one goes.
    state.setClientStatus(r.id, 'running');
    const done = run(state, job);
    assert.deepEqual(done.place, []);
    assert.deepEqual(
      done.stop.map((s) => [s.allocId, s.reason]),
      [[allocs[0]!.id, MIGRATE_REASONS.migrated(state.alloc(r.id)!)]],
    );
    state.apply(done);
    assert.equal(runningCount(state, job), 3);
    // And it is settled: another evaluation changes nothing.
    const after = run(state, job);
    assert.deepEqual([after.place, after.stop], [[], []]);
  });

  it('waits for minHealthyTime after the replacement started', () => {
    const { job: base, allocs, state, x } = drained(1);
    const job = { ...base, groups: [{ ...base.groups[0]!, migrate: { maxParallel: 1, minHealthyTimeMs: 10_000 } }] };
    state.putJob(job);
    state.putAlloc({ ...allocs[0]!, migrate: drainMark() });
    const r = anAlloc({
      job,
      node: x,
      index: 0,
      previousAllocId: allocs[0]!.id,
      taskStates: { main: { state: 'running', failed: false, restarts: 0, startedAt: T0, events: [] } },
    });
    state.putAlloc(r);
    assert.equal(readyAt(r, { maxParallel: 1, minHealthyTimeMs: 10_000 }), T0 + 10_000);
    assert.deepEqual(run(state, job, T0 + 9_999).stop, []);
    assert.equal(run(state, job, T0 + 10_000).stop.length, 1);
  });

  it('a failed replacement is rescheduled while the original keeps running', () => {
    const { job, allocs, state, x } = drained(1);
    state.putAlloc({ ...allocs[0]!, migrate: drainMark() });
    const r = anAlloc({ job, node: x, index: 0, previousAllocId: allocs[0]!.id, clientStatus: 'failed' });
    state.putAlloc(r);
    const plan = run(state, job);
    assert.deepEqual(plan.stop.map((s) => s.allocId), [r.id]);
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.previousAllocId, r.id);
  });

  it('force (the deadline passed) stops at once and replaces', () => {
    const { job, allocs, state } = drained(1);
    state.putAlloc({ ...allocs[0]!, migrate: drainMark({ force: true, why: 'drain deadline reached' }) });
    const plan = run(state, job);
    assert.deepEqual(plan.stop.map((s) => [s.allocId, s.reason]), [[allocs[0]!.id, 'drain deadline reached']]);
    assert.equal(plan.place.length, 1);
  });

  it('a move not yet started is ignored by the scheduler', () => {
    const { job, allocs, state } = drained(1);
    state.putAlloc({ ...allocs[0]!, migrate: drainMark({ started: false }) });
    const plan = run(state, job);
    assert.deepEqual([plan.place, plan.stop], [[], []]);
  });

  it('a rebalance move goes to its target node, or nowhere when it no longer fits there', () => {
    const a = aNode();
    const b = aNode();
    const small = aNode({ resources: { cpuMhz: 100, memoryMb: 100 } });
    const job = aJob({ group: { count: 1 } });
    const alloc = anAlloc({ job, node: a, index: 0 });
    const to = (target: Node) => aState({ nodes: [a, b, small], jobs: [job], allocs: [{ ...alloc, migrate: drainMark({ reason: 'rebalance', targetNodeId: target.id }) }] });
    const ok = run(to(b), job);
    assert.deepEqual(ok.place.map((p) => p.nodeId), [b.id]);
    const no = run(to(small), job);
    assert.deepEqual([no.place, no.stop, no.failures], [[], [], {}]);
  });

  it('never lowers the running count while a drain moves three copies one at a time', () => {
    const { d, job, allocs, state } = drained(3);
    for (const old of allocs) {
      state.putAlloc({ ...state.alloc(old.id)!, migrate: drainMark() });
      for (let step = 0; step < 3; step++) {
        const plan = run(state, job);
        state.apply(plan);
        assert.ok(runningCount(state, job) >= 3, `running count dropped below 3 at step ${step}`);
      }
    }
    const live = state.allocsByJob(job.namespace, job.name).filter((a) => a.desiredStatus === 'run');
    assert.equal(live.length, 3);
    assert.ok(live.every((a) => a.nodeId !== d.id));
    assert.deepEqual(live.map((a) => a.index).sort(), [0, 1, 2]);
  });
});
