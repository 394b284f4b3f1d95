import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isLive, type AllocStatus, type AllocView } from '../core/alloc.js';
import { jobKey, type JobKey } from '../core/ids.js';
import type { Job } from '../core/job.js';
import { aServiceJob, aTask } from '../core/testing.js';
import { FakeClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import { aNode } from '../scheduler/testing/builders.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache } from '../store/index.js';
import type { StateCache, StateStore } from '../store/state.js';
import type { Store } from '../store/store.js';
import { newEvaluation } from './evals.js';
import { PlanApplier } from './plan-applier.js';
import { SchedulerWorker } from './scheduler-worker.js';
import { ControllerHarness, aRegistration } from './testing.js';

/** A job of one group with `count` allocations of `memoryMb` each. */
const sized = (name: string, priority: number, memoryMb: number, o: Partial<Job> = {}, count = 1): Job =>
  aServiceJob({ name, priority, ...o }, { count, tasks: [aTask({ resources: { cpuMhz: 100, memoryMb } })] });

const running = (a: AllocView): AllocStatus => ({
  id: a.id,
  nodeId: a.nodeId,
  clientStatus: 'running',
  clientDescription: '',
  taskStates: { server: { state: 'running', failed: false, restarts: 0, events: [] } },
  updatedAt: 0,
});

describe('two scheduler workers racing for one node', () => {
  let clock: FakeClock;
  let store: Store;
  let cache: StateCache & { close(): void };
  let stateStore: StateStore;

  beforeEach(async () => {
    clock = new FakeClock();
    store = openSqliteStore({ path: ':memory:', clock });
    cache = await openStateCache(store);
    stateStore = createStateStore(store);
  });
  afterEach(async () => {
    cache.close();
    await store.close();
  });

  test('exactly one plan commits; the other is rejected by the applier, retried, and blocked — never an overcommitted node', async () => {
    const logger = silentLogger();
    const applier = new PlanApplier({ stateStore, cache, clock, logger });
    const workers = [1, 2].map(() => new SchedulerWorker({ cache, stateStore, applier, clock, logger }));
    const node = aNode({ name: 'one-slot', resources: { cpuMhz: 4000, memoryMb: 1000 } });
    // Same priority: neither may preempt the other.
    const jobs = [sized('a', 50, 800, { version: 1 }), sized('b', 50, 800, { version: 1 })];
    const rev = await stateStore.commit([
      { kind: 'node', value: node },
      ...jobs.map((j) => ({ kind: 'job' as const, value: j })),
      ...jobs.map((j) => ({ kind: 'eval' as const, value: newEvaluation(j.namespace, j.name, 'job-register', clock.now()) })),
    ]);
    await cache.waitFor(rev);

    // Both read the same snapshot before either commits (each scheduling pass is synchronous up to the applier).
    const results = await Promise.all(jobs.map((j, i) => workers[i]!.reconcile(jobKey(j.namespace, j.name) as JobKey)));
    const retried = results.map((r, i) => (r?.requeueAfterMs === 0 ? i : -1)).filter((i) => i >= 0);
    assert.equal(retried.length, 1, 'exactly one plan was rejected and asks to be retried');
    const loser = jobs[retried[0]!]!;
    const winner = jobs[1 - retried[0]!]!;
    const liveOn = () => cache.allocsByNode(node.id).filter(isLive);
    assert.deepEqual(liveOn().map((a) => a.jobName), [winner.name]);
    assert.equal(cache.evals({ jobName: loser.name })[0]!.status, 'pending', 'the rejected evaluation stays pending');

    // The retry schedules from the newer state: no room, so blocked with the reason.
    assert.equal(await workers[retried[0]!]!.reconcile(jobKey(loser.namespace, loser.name) as JobKey), undefined);
    const e = cache.evals({ jobName: loser.name })[0]!;
    assert.equal(e.status, 'blocked');
    assert.match(e.statusDescription, /not enough memory \(needs 800 MB, most free 200 MB\)/);
    assert.deepEqual(liveOn().map((a) => a.jobName), [winner.name]);
    assert.ok(liveOn().reduce((n, a) => n + a.resources.memoryMb, 0) <= node.resources.memoryMb);
  });
});

describe('priorities and preemption through the control plane', () => {
  let h: ControllerHarness;
  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 60_000, graceMs: 0 }, schedulerWorkers: 1 }).start();
  });
  afterEach(() => h.stop());
  const settle = () => h.settle(150);
  const run = (job: string) => h.cache.allocsByJob('default', job).filter((a) => a.desiredStatus === 'run');

  test('the queue schedules the higher-priority job first', async () => {
    await h.ctl.cluster.registerNode(aRegistration({ resources: { cpuMhz: 4000, memoryMb: 1000 } }));
    await settle();
    // Batch jobs do not preempt, so who gets the one slot shows the order.
    const jobs = [sized('low', 20, 800, { type: 'batch', version: 1 }), sized('high', 80, 800, { type: 'batch', version: 1 })];
    await createStateStore(h.store).commit([
      ...jobs.map((j) => ({ kind: 'job' as const, value: j })),
      ...jobs.map((j) => ({ kind: 'eval' as const, value: newEvaluation(j.namespace, j.name, 'job-register', h.clock.now()) })),
    ]);
    await settle();
    assert.equal(run('high').length, 1);
    assert.equal(run('low').length, 0);
    assert.equal(h.cache.evals({ jobName: 'low' }).find((e) => e.status === 'blocked')?.failedPlacements.app?.unplaced, 1);
  });

  test('a higher-priority service preempts; the victim stops with the reason, its job is re-evaluated and blocked, no ping-pong', async () => {
    const { node } = await h.ctl.cluster.registerNode(aRegistration({ resources: { cpuMhz: 4000, memoryMb: 1000 } }));
    await h.ctl.cluster.registerJob(sized('low', 20, 600));
    await settle();
    const [victim] = run('low');
    assert.ok(victim);
    await h.ctl.cluster.updateAllocStatus(node.id, [running(victim)]);

    const r = await h.ctl.cluster.registerJob(sized('high', 70, 600));
    await settle();
    const [placed] = run('high');
    assert.ok(placed, 'the high-priority job runs');
    assert.equal(placed.nodeId, node.id);
    const stopped = h.cache.alloc(victim.id)!;
    assert.equal(stopped.desiredStatus, 'stop');
    assert.equal(stopped.desiredDescription, 'preempted by job high (priority 70)');
    assert.deepEqual({ ...stopped.preemptedBy, at: 0 }, { byAllocId: placed.id, byJob: 'high', byPriority: 70, at: 0 });
    assert.match(h.cache.eval(r.evalId!)!.statusDescription, /placed 1.*preempted 1/);

    const lowEvals = h.cache.evals({ jobName: 'low' });
    assert.ok(lowEvals.some((e) => e.triggeredBy === 'preemption'), 'an evaluation for the preempted job');
    const blocked = lowEvals.find((e) => e.status === 'blocked');
    assert.ok(blocked, 'the preempted job waits for room');
    assert.match(blocked.statusDescription, /not enough memory/);

    // The victim finishes stopping; the low job still cannot displace the high one.
    await h.ctl.cluster.updateAllocStatus(node.id, [{ ...running(victim), clientStatus: 'complete' }]);
    await settle();
    assert.deepEqual(run('high').map((a) => a.id), [placed.id]);
    assert.equal(run('low').length, 0);
    assert.ok(h.cache.allocsByNode(node.id).filter(isLive).reduce((n, a) => n + a.resources.memoryMb, 0) <= 1000);

    // Room appears: the low job is placed there.
    const spare = await h.ctl.cluster.registerNode(aRegistration({ name: 'spare', resources: { cpuMhz: 4000, memoryMb: 1000 } }));
    await settle();
    assert.deepEqual(run('low').map((a) => a.nodeId), [spare.node.id]);
  });
});
