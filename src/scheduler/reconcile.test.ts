import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Job, Task } from '../core/job.js';
import { reconcile, rescheduleDecision, STOP_REASONS } from './reconcile.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState, aTask, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';
import type { SchedulerState } from './types.js';

const HOUR = 3_600_000;
const run = (state: TestState, job: Pick<Job, 'namespace' | 'name'>, o: { seed?: string | number; now?: number } = {}) =>
  schedule(state, anEval(job), aContext(o));
const stops = (plan: { stop: { allocId: string; reason: string }[] }) => plan.stop.map((s) => [s.allocId, s.reason]);

describe('reconcile: lost nodes', () => {
  it('marks allocations on a down node lost and replaces them elsewhere', () => {
    const down = aNode({ status: 'down' });
    const up = aNode();
    const job = aJob({ group: { count: 2 } });
    const a0 = anAlloc({ job, node: down, index: 0, rescheduleTimes: [T0 - 1000] });
    const a1 = anAlloc({ job, node: up, index: 1 });
    const plan = run(aState({ nodes: [down, up], jobs: [job], allocs: [a0, a1] }), job);

    assert.deepEqual(plan.markLost, [a0.id]);
    assert.deepEqual(stops(plan), [[a0.id, STOP_REASONS.nodeDown]]);
    assert.equal(plan.place.length, 1);
    const r = plan.place[0]!;
    assert.equal(r.nodeId, up.id);
    assert.equal(r.index, 0);
    assert.equal(r.previousAllocId, a0.id);
    assert.deepEqual(r.rescheduleTimes, [T0 - 1000], 'a lost node is not a failure: no attempt is used');
  });

  it('treats a vanished node like a down one', () => {
    const gone = aNode();
    const up = aNode();
    const job = aJob();
    const a = anAlloc({ job, node: gone });
    const plan = run(aState({ nodes: [up], jobs: [job], allocs: [a] }), job);
    assert.deepEqual(plan.markLost, [a.id]);
    assert.deepEqual(stops(plan), [[a.id, STOP_REASONS.nodeMissing]]);
    assert.equal(plan.place[0]!.nodeId, up.id);
  });

  it('keeps allocations on a disconnected node for now (policy: wait, do not replace)', () => {
    const away = aNode({ status: 'disconnected', disconnectedAt: T0 });
    const up = aNode();
    const job = aJob({ group: { disconnect: { lostAfterMs: HOUR, replace: false, stopOnClientAfterMs: null, reconcile: 'best_score' } } });
    const a = anAlloc({ job, node: away });
    const plan = run(aState({ nodes: [away, up], jobs: [job], allocs: [a] }), job);
    assert.deepEqual([plan.place, plan.stop, plan.markLost], [[], [], []]);
  });
});

describe('reconcile: failures and rescheduling', () => {
  it('replaces a failed allocation, preferring another node', () => {
    const job = aJob();
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const a = aNode();
      const b = aNode();
      const failed = anAlloc({ job, node: a, clientStatus: 'failed' });
      const plan = run(aState({ nodes: [a, b], jobs: [job], allocs: [failed] }), job, { seed, now: T0 + 10 });
      assert.deepEqual(stops(plan), [[failed.id, STOP_REASONS.rescheduled]]);
      assert.equal(plan.place.length, 1);
      assert.equal(plan.place[0]!.nodeId, b.id, `seed ${seed}`);
      assert.equal(plan.place[0]!.previousAllocId, failed.id);
      assert.deepEqual(plan.place[0]!.rescheduleTimes, [T0 + 10]);
    }
  });

  it('uses the failed node when nothing else fits', () => {
    const a = aNode();
    const job = aJob();
    const failed = anAlloc({ job, node: a, clientStatus: 'failed' });
    const plan = run(aState({ nodes: [a, aNode({ drain: true })], jobs: [job], allocs: [failed] }), job);
    assert.equal(plan.place[0]!.nodeId, a.id);
  });

  it('stops without replacing once attempts are used up, and keeps the index taken', () => {
    const a = aNode();
    const b = aNode();
    const job = aJob({ group: { reschedule: { attempts: 2, intervalMs: HOUR } } });
    const now = T0 + 2 * HOUR;
    const failed = anAlloc({ job, node: a, clientStatus: 'failed', rescheduleTimes: [now - 20 * 60_000, now - 10 * 60_000] });
    const state = aState({ nodes: [a, b], jobs: [job], allocs: [failed] });
    const plan = run(state, job, { now });
    assert.deepEqual(plan.place, []);
    assert.deepEqual(plan.failures, {});
    assert.deepEqual(stops(plan), [[failed.id, 'failed; not rescheduled: 2 of 2 attempts used within 1h']]);

    // The next evaluation does not refill the index behind the policy's back…
    state.apply(plan, now);
    assert.deepEqual(run(state, job, { now: now + 1000 }).place, []);
    // …but once the attempts age out of the interval, it may replace it.
    const later = run(state, job, { now: now + HOUR });
    assert.equal(later.place.length, 1);
    assert.equal(later.place[0]!.previousAllocId, failed.id);
    assert.deepEqual(later.stop, [], 'already stopped');
  });

  it('does not reschedule when the policy disables it', () => {
    const node = aNode();
    const job = aJob({ group: { reschedule: { attempts: 0, intervalMs: HOUR } } });
    const failed = anAlloc({ job, node, clientStatus: 'failed' });
    const plan = run(aState({ nodes: [node], jobs: [job], allocs: [failed] }), job);
    assert.deepEqual(plan.place, []);
    assert.deepEqual(stops(plan), [[failed.id, 'failed; not rescheduled: rescheduling disabled']]);
  });

  it('counts attempts within the interval only', () => {
    const policy = { attempts: 2, intervalMs: HOUR };
    const now = T0 + 10 * HOUR;
    assert.deepEqual(rescheduleDecision([now - 3 * HOUR, now - 2 * HOUR], policy, now), { allowed: true, times: [now], why: '' });
    assert.equal(rescheduleDecision([now - 3 * HOUR, now - 1000], policy, now).allowed, true);
    assert.equal(rescheduleDecision([now - 2000, now - 1000], policy, now).allowed, false);
  });

  it('counts finished batch work as done, but replaces a service that completed', () => {
    const node = aNode();
    const batch = aJob({ name: 'b', type: 'batch' });
    const done = anAlloc({ job: batch, node, clientStatus: 'complete' });
    const p1 = run(aState({ nodes: [node], jobs: [batch], allocs: [done] }), batch);
    assert.deepEqual([p1.place, p1.stop], [[], []]);

    const service = aJob({ name: 's' });
    const exited = anAlloc({ job: service, node, clientStatus: 'complete' });
    const p2 = run(aState({ nodes: [node], jobs: [service], allocs: [exited] }), service);
    assert.deepEqual(stops(p2), [[exited.id, STOP_REASONS.serviceCompleted]]);
    assert.equal(p2.place[0]!.previousAllocId, exited.id);
  });

  it('runs a new version of a batch job again', () => {
    const node = aNode();
    const v0 = aJob({ type: 'batch' });
    const done = anAlloc({ job: v0, node, clientStatus: 'complete' });
    const v1 = { ...v0, version: 1, groups: [{ ...v0.groups[0]!, tasks: [aTask({ args: ['again'] })] }] };
    const plan = run(aState({ nodes: [node], jobs: [v0, v1], allocs: [done] }), v1);
    assert.deepEqual(plan.stop, []);
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.jobVersion, 1);
  });
});

describe('reconcile: count', () => {
  it('scales up into the lowest free indexes', () => {
    const node = aNode({ resources: { cpuMhz: 100_000, memoryMb: 100_000 } });
    const job = aJob({ group: { count: 4 } });
    const allocs = [0, 2].map((index) => anAlloc({ job, node, index }));
    const plan = run(aState({ nodes: [node], jobs: [job], allocs }), job);
    assert.deepEqual(plan.place.map((a) => a.index), [1, 3]);
  });

  it('scales down by stopping the highest indexes', () => {
    const node = aNode({ resources: { cpuMhz: 100_000, memoryMb: 100_000 } });
    const job = aJob({ group: { count: 2 } });
    const allocs = [3, 0, 2, 1].map((index) => anAlloc({ job, node, index }));
    const plan = run(aState({ nodes: [node], jobs: [job], allocs }), job);
    assert.deepEqual(plan.place, []);
    assert.deepEqual(stops(plan).sort(), [[allocs[0]!.id, STOP_REASONS.countReduced], [allocs[2]!.id, STOP_REASONS.countReduced]].sort());
  });

  it('does not replace lost work on indexes that the new count drops', () => {
    const down = aNode({ status: 'down' });
    const up = aNode();
    const job = aJob({ group: { count: 1 } });
    const a0 = anAlloc({ job, node: up, index: 0 });
    const a1 = anAlloc({ job, node: down, index: 1 });
    const plan = run(aState({ nodes: [down, up], jobs: [job], allocs: [a0, a1] }), job);
    assert.deepEqual(plan.place, []);
    assert.deepEqual(plan.markLost, [a1.id]);
    assert.deepEqual(stops(plan), [[a1.id, STOP_REASONS.nodeDown]]);
  });

  it('ignores allocations already told to stop', () => {
    const node = aNode();
    const job = aJob({ group: { count: 1 } });
    const leaving = anAlloc({ job, node, index: 0, desiredStatus: 'stop', clientStatus: 'running' });
    const plan = run(aState({ nodes: [node], jobs: [job], allocs: [leaving] }), job);
    assert.deepEqual(plan.stop, []);
    assert.deepEqual(plan.place.map((a) => a.index), [0]);
  });

  it('stops a duplicate holder of one index', () => {
    const node = aNode();
    const job = aJob();
    const older = anAlloc({ job, node, createdAt: T0 - 10 });
    const newer = anAlloc({ job, node, createdAt: T0 });
    const plan = run(aState({ nodes: [node], jobs: [job], allocs: [older, newer] }), job);
    assert.deepEqual(stops(plan), [[older.id, STOP_REASONS.duplicate]]);
  });
});

describe('reconcile: stopping and updating jobs', () => {
  it('stops every running allocation of a stopped job', () => {
    const node = aNode();
    const down = aNode({ status: 'down' });
    const job = aJob({ stopped: true, group: { count: 3 } });
    const a0 = anAlloc({ job, node, index: 0 });
    const a1 = anAlloc({ job, node: down, index: 1 });
    const gone = anAlloc({ job, node, index: 2, desiredStatus: 'stop' });
    const plan = run(aState({ nodes: [node, down], jobs: [job], allocs: [a0, a1, gone] }), job);
    assert.deepEqual(stops(plan), [[a0.id, STOP_REASONS.jobStopped], [a1.id, STOP_REASONS.jobStopped]]);
    assert.deepEqual(plan.markLost, [a1.id]);
    assert.deepEqual(plan.place, []);
  });

  it('stops everything of a job that no longer exists', () => {
    const node = aNode();
    const job = aJob();
    const a = anAlloc({ job, node });
    const plan = run(aState({ nodes: [node], allocs: [a] }), job);
    assert.deepEqual(stops(plan), [[a.id, STOP_REASONS.jobDeregistered]]);
  });

  it('stops allocations of a removed group', () => {
    const node = aNode();
    const v0 = aJob();
    const a = anAlloc({ job: v0, node });
    const v1 = aJob({ version: 1, group: { name: 'api' } });
    const plan = run(aState({ nodes: [node], jobs: [v0, v1], allocs: [a] }), v1);
    assert.deepEqual(stops(plan), [[a.id, STOP_REASONS.groupRemoved]]);
    assert.equal(plan.place[0]!.group, 'api');
  });

  it('replaces allocations when the container must change (image)', () => {
    const node = aNode({ resources: { cpuMhz: 1000, memoryMb: 300 } }); // room for one copy only
    const v0 = aJob();
    const a = anAlloc({ job: v0, node });
    const v1 = aJob({ version: 1, group: { tasks: [aTask({ image: 'karu-test/busybox:2' })] } });
    const plan = run(aState({ nodes: [node], jobs: [v0, v1], allocs: [a] }), v1);
    assert.deepEqual(stops(plan), [[a.id, STOP_REASONS.updated(1)]]);
    assert.equal(plan.place.length, 1, "the stopped copy's resources are free for its successor");
    assert.equal(plan.place[0]!.jobVersion, 1);
    assert.equal(plan.place[0]!.previousAllocId, a.id);
    assert.deepEqual(plan.inPlaceUpdate, []);
  });

  const changes: [string, Partial<Task>][] = [
    ['env', { env: { A: '1' } }],
    ['args', { args: ['-v'] }],
    ['command', { command: '/bin/other' }],
    ['memory', { resources: { cpuMhz: 500, memoryMb: 512 } }],
    ['ports', { ports: [{ label: 'http', to: 80 }] }],
  ];
  for (const [what, change] of changes) {
    it(`treats a ${what} change as destructive`, () => {
      const node = aNode();
      const v0 = aJob();
      const a = anAlloc({ job: v0, node });
      const v1 = aJob({ version: 1, group: { tasks: [aTask(change)] } });
      const plan = run(aState({ nodes: [node], jobs: [v0, v1], allocs: [a] }), v1);
      assert.deepEqual(stops(plan), [[a.id, STOP_REASONS.updated(1)]]);
    });
  }

  it('updates in place when only count, restart or reschedule changed', () => {
    const node = aNode();
    const v0 = aJob({ group: { count: 1 } });
    const a = anAlloc({ job: v0, node });
    const v1 = aJob({
      version: 1,
      group: { count: 2, restart: { attempts: 9, intervalMs: 1, delayMs: 1, mode: 'delay' }, reschedule: { attempts: 9, intervalMs: 1 } },
    });
    const plan = run(aState({ nodes: [node, aNode()], jobs: [v0, v1], allocs: [a] }), v1);
    assert.deepEqual(plan.stop, []);
    assert.deepEqual(plan.inPlaceUpdate, [{ allocId: a.id, jobVersion: 1 }]);
    assert.deepEqual(plan.place.map((p) => [p.index, p.jobVersion]), [[1, 1]]);
  });

  it('updates in place when new constraints still hold, replaces when they do not', () => {
    const here = aNode({ labels: { zone: 'a' } });
    const there = aNode({ labels: { zone: 'b' } });
    const v0 = aJob();
    const a = anAlloc({ job: v0, node: here });
    const ok = aJob({ version: 1, group: { constraints: [{ attribute: '${label.zone}', operator: '=', value: 'a' }] } });
    const p1 = run(aState({ nodes: [here, there], jobs: [v0, ok], allocs: [a] }), ok);
    assert.deepEqual(p1.inPlaceUpdate, [{ allocId: a.id, jobVersion: 1 }]);

    const moved = aJob({ version: 1, group: { constraints: [{ attribute: '${label.zone}', operator: '=', value: 'b' }] } });
    const p2 = run(aState({ nodes: [here, there], jobs: [v0, moved], allocs: [a] }), moved);
    assert.deepEqual(stops(p2), [[a.id, STOP_REASONS.updated(1)]]);
    assert.equal(p2.place[0]!.nodeId, there.id);
  });

  it('replaces when the old version is unknown (no history in the state)', () => {
    const node = aNode();
    const v0 = aJob();
    const a = anAlloc({ job: v0, node });
    const v1 = aJob({ version: 1, group: { count: 1 } });
    const state = aState({ nodes: [node], jobs: [v0, v1], allocs: [a] });
    // A read model without `jobVersion` at all: the optional method is absent.
    const noHistory: SchedulerState = {
      job: (ns, name) => state.job(ns, name),
      nodes: () => state.nodes(),
      node: (id) => state.node(id),
      allocsByNode: (id) => state.allocsByNode(id),
      allocsByJob: (ns, name) => state.allocsByJob(ns, name),
    };
    const r = reconcile(noHistory, v1.namespace, v1.name, T0);
    assert.deepEqual(r.groups.get('web')!.stop.map((s) => s.alloc.id), [a.id]);
    // The same change with history is recognised as harmless.
    assert.deepEqual(reconcile(state, v1.namespace, v1.name, T0).groups.get('web')!.inPlace.map((x) => x.id), [a.id]);
  });
});
