import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus, AllocView } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import type { Job, Task } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import type { StateCache } from '../store/state.js';
import { Controllers } from './control-loop.js';
import { ControllerHarness, aRegistration } from './testing.js';
import { aServiceJob, aTask } from '../core/testing.js';

const HOUR = 3_600_000;

function aJob(count: number, task: Partial<Task> = {}, over: Partial<Job> = {}): Job {
  return aServiceJob(over, { count, migrate: { maxParallel: 1, minHealthyTimeMs: 0 }, tasks: [aTask({ resources: { cpuMhz: 100, memoryMb: 64 }, ...task })] });
}

describe('drainer against a real store', () => {
  let clock: FakeClock;
  let cache: StateCache & { close(): void };
  let ctl: Controllers;

  let h: ControllerHarness;

  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 10 * HOUR, graceMs: 0 } }).start();
    ({ clock, cache, ctl } = h);
  });

  afterEach(() => h.stop());

  /** A server restart: new read model and controllers over the same store. */
  async function restart(): Promise<void> {
    await h.restart();
    ({ cache, ctl } = h);
  }

  /** Lets the queue, the watch, the drainer and due timers run until nothing moves. */
  const settle = () => h.settle(150);

  /** A healthy agent on every node: starts what should run, stops what should not. */
  async function agents(): Promise<void> {
    const byNode = new Map<NodeId, AllocStatus[]>();
    for (const a of cache.allocs()) {
      let next: AllocStatus['clientStatus'] | undefined;
      if (a.desiredStatus === 'run' && a.clientStatus === 'pending') next = 'running';
      if (a.desiredStatus === 'stop' && a.clientStatus === 'running') next = 'complete';
      if (!next) continue;
      const status: AllocStatus = {
        id: a.id,
        nodeId: a.nodeId,
        clientStatus: next,
        clientDescription: '',
        taskStates: { server: { state: next === 'running' ? 'running' : 'dead', failed: false, restarts: 0, startedAt: clock.now(), events: [] } },
        updatedAt: clock.now(),
      };
      byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), status]);
    }
    for (const [nodeId, updates] of byNode) await ctl.cluster.updateAllocStatus(nodeId, updates);
  }

  const live = () => cache.allocsByJob('default', 'web').filter((a) => a.desiredStatus === 'run');
  const serving = () => live().filter((a) => a.clientStatus === 'running');
  const movingOn = (nodeId: NodeId) => cache.allocsByNode(nodeId).filter((a: AllocView) => a.migrate?.started && a.desiredStatus === 'run');

  /** Three copies on `a`, then two empty nodes join. */
  async function threeOnA(task: Partial<Task> = {}) {
    const a = (await ctl.cluster.registerNode(aRegistration({ name: 'a' }))).node;
    await ctl.cluster.registerJob(aJob(3, task));
    await settle();
    await agents();
    await settle();
    const b = (await ctl.cluster.registerNode(aRegistration({ name: 'b' }))).node;
    const c = (await ctl.cluster.registerNode(aRegistration({ name: 'c' }))).node;
    assert.equal(serving().length, 3);
    assert.ok(serving().every((x) => x.nodeId === a.id));
    return { a, b, c };
  }

  test('drains three copies one at a time, make before break, and ends the drain', async () => {
    const { a } = await threeOnA();
    const drained = await ctl.cluster.drainNode(a.id, { enable: true, deadlineMs: HOUR, ignoreSystem: false });
    assert.equal(drained.eligibility, 'ineligible');
    assert.equal(drained.drain, true);
    for (let step = 0; step < 12 && cache.node(a.id)!.drain; step++) {
      await settle();
      assert.ok(movingOn(a.id).length <= 1, `step ${step}: more than maxParallel in flight`);
      assert.ok(serving().length >= 3, `step ${step}: only ${serving().length} serving`);
      await agents();
    }
    await settle();
    const node = cache.node(a.id)!;
    assert.equal(node.drain, false, 'the drain ended');
    assert.equal(node.eligibility, 'ineligible', 'a drained node stays ineligible');
    assert.equal(node.lastDrain?.message, 'drain complete');
    assert.equal(node.drainStrategy, undefined);
    assert.equal(live().length, 3);
    assert.ok(live().every((x) => x.nodeId !== a.id && x.clientStatus === 'running'));
    assert.deepEqual(live().map((x) => x.index).sort(), [0, 1, 2]);
  });

  test('the deadline forces what is left; a host-mount allocation is not movable until then, then lost by drain', async () => {
    const { a } = await threeOnA({ mounts: [{ source: '/srv/data', target: '/data', readOnly: false }] });
    await ctl.cluster.drainNode(a.id, { enable: true, deadlineMs: 60_000, ignoreSystem: false });
    for (let i = 0; i < 3; i++) {
      await settle();
      await agents();
    }
    // Node-local: nothing moved, all three still serving on a.
    assert.equal(movingOn(a.id).length, 0);
    assert.equal(serving().filter((x) => x.nodeId === a.id).length, 3);
    assert.equal(cache.node(a.id)!.drain, true);

    clock.advance(60_000);
    await settle();
    const stopped = cache.allocsByNode(a.id);
    assert.ok(stopped.every((x) => x.desiredStatus === 'stop'));
    assert.match(stopped[0]!.desiredDescription, /lost by drain: uses host path \/srv\/data/);
    await agents();
    await settle();
    const node = cache.node(a.id)!;
    assert.equal(node.drain, false);
    assert.match(node.lastDrain!.message, /deadline/);
    assert.equal(live().length, 3, 'replaced elsewhere (without the data)');
  });

  test('a drain survives a server restart (its state is in the store)', async () => {
    const { a } = await threeOnA();
    await ctl.cluster.drainNode(a.id, { enable: true, deadlineMs: HOUR, ignoreSystem: false });
    await settle();
    await agents();
    await restart();
    for (let step = 0; step < 12 && cache.node(a.id)!.drain; step++) {
      await settle();
      assert.ok(serving().length >= 3);
      await agents();
    }
    await settle();
    assert.equal(cache.node(a.id)!.drain, false);
    assert.ok(live().every((x) => x.nodeId !== a.id));
  });

  test('eligibility: an ineligible node keeps its allocations but gets no new ones', async () => {
    const a = (await ctl.cluster.registerNode(aRegistration({ name: 'a' }))).node;
    await ctl.cluster.registerJob(aJob(1));
    await settle();
    assert.equal(live().length, 1);
    await ctl.cluster.setNodeEligibility(a.id, false);
    await ctl.cluster.registerJob(aJob(2));
    await settle();
    assert.equal(live().length, 1, 'the old one stays, the new one has nowhere to go');
    await ctl.cluster.setNodeEligibility(a.id, true);
    await settle();
    assert.equal(live().length, 2);
    await ctl.cluster.drainNode(a.id, { enable: true, deadlineMs: HOUR, ignoreSystem: false });
    await assert.rejects(ctl.cluster.setNodeEligibility(a.id, true), /draining/);
    const cancelled = await ctl.cluster.drainNode(a.id, { enable: false, deadlineMs: 0, ignoreSystem: false });
    assert.equal(cancelled.eligibility, 'eligible');
    assert.equal(cancelled.lastDrain?.message, 'drain cancelled');
  });

  test('rebalance moves copies to new nodes at most max-parallel at a time', async () => {
    const a = (await ctl.cluster.registerNode(aRegistration({ name: 'a' }))).node;
    await ctl.cluster.registerJob(aJob(4));
    await settle();
    await agents();
    await settle();
    await ctl.cluster.registerNode(aRegistration({ name: 'b' }));
    const dry = await ctl.cluster.rebalance({ dryRun: true, maxParallel: 1 });
    assert.equal(dry.plan.moves.length, 2);
    assert.equal(dry.batchId, undefined);
    assert.ok(cache.allocs().every((x) => x.migrate === undefined), 'a dry run changes nothing');
    const real = await ctl.cluster.rebalance({ dryRun: false, maxParallel: 1 });
    assert.ok(real.batchId);
    for (let step = 0; step < 10; step++) {
      await settle();
      assert.ok(movingOn(a.id).length <= 1);
      assert.ok(serving().length >= 4);
      await agents();
    }
    await settle();
    assert.equal(live().length, 4);
    assert.equal(live().filter((x) => x.nodeId === a.id).length, 2);
    assert.ok(cache.allocs().filter((x) => x.desiredStatus === 'run').every((x) => x.migrate === undefined || !x.migrate.started));
    assert.deepEqual((await ctl.cluster.rebalance({ dryRun: true, maxParallel: 1 })).plan.moves, []);
  });
});
