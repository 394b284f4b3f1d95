import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus, AllocView } from '../core/alloc.js';
import type { Job } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import type { StateCache } from '../store/state.js';
import { Controllers } from './control-loop.js';
import { ControllerHarness, aRegistration } from './testing.js';
import { aServiceJob, aTask } from '../core/testing.js';

function aJob(overrides: Partial<Job> = {}, count = 2, memoryMb = 256): Job {
  return aServiceJob(overrides, { count, tasks: [aTask({ resources: { cpuMhz: 100, memoryMb }, ports: [{ label: 'http', to: 8080 }] })] });
}

/** Reports every allocation the server wants running on `nodeId` as running, like a healthy agent. */
function running(a: AllocView): AllocStatus {
  return { id: a.id, nodeId: a.nodeId, clientStatus: 'running', clientDescription: '', taskStates: { server: { state: 'running', failed: false, restarts: 0, events: [] } }, updatedAt: 0 };
}

describe('controllers against a real store', () => {
  let clock: FakeClock;
  let cache: StateCache & { close(): void };
  let ctl: Controllers;

  let h: ControllerHarness;

  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 10_000, graceMs: 0 } }).start();
    ({ clock, cache, ctl } = h);
  });

  afterEach(() => h.stop());

  /** Lets the queue, the watch, the drainer and due timers run until nothing moves. */
  const settle = () => h.settle(150);

  const live = (job = 'web') => cache.allocsByJob('default', job).filter((a) => a.desiredStatus === 'run');

  test('a registered job is placed on the registered node, version 1, and re-registering it is a no-op', async () => {
    const { node } = await ctl.cluster.registerNode(aRegistration());
    const r = await ctl.cluster.registerJob(aJob());
    assert.equal(r.result, 'created');
    assert.equal(r.job.version, 1);
    await settle();
    const allocs = live();
    assert.equal(allocs.length, 2);
    assert.ok(allocs.every((a) => a.nodeId === node.id && a.jobVersion === 1));
    assert.equal(cache.eval(r.evalId!)?.status, 'complete');
    const again = await ctl.cluster.registerJob(aJob());
    assert.equal(again.result, 'unchanged');
    assert.equal(again.evalId, undefined);
  });

  test('a job that cannot fit is blocked with reasons, and placed when a node joins', async () => {
    await ctl.cluster.registerNode(aRegistration({ resources: { cpuMhz: 4000, memoryMb: 300 } }));
    const r = await ctl.cluster.registerJob(aJob({}, 1, 512));
    await settle();
    const e = cache.eval(r.evalId!)!;
    assert.equal(e.status, 'blocked');
    const failure = e.failedPlacements.app!;
    assert.equal(failure.unplaced, 1);
    assert.match(failure.explanations.join('\n'), /memory/);
    assert.equal(live().length, 0);

    await ctl.cluster.registerNode(aRegistration({ name: 'big' }));
    await settle();
    assert.equal(live().length, 1);
    assert.equal(live()[0]!.nodeName, 'big');
  });

  test('a node registered in a pool takes only jobs of that pool', async () => {
    const gpu = await ctl.cluster.registerNode(aRegistration({ name: 'gpu1', pool: 'gpu' }));
    const plain = await ctl.cluster.registerNode(aRegistration({ name: 'plain' }));
    assert.equal(gpu.node.pool, 'gpu');
    await ctl.cluster.registerJob(aJob({ name: 'train', nodePool: 'gpu' }, 3));
    await ctl.cluster.registerJob(aJob({}, 3));
    await settle();
    assert.ok(live('train').length === 3 && live('train').every((a) => a.nodeId === gpu.node.id));
    assert.ok(live().length === 3 && live().every((a) => a.nodeId === plain.node.id));
  });

  test('a node that stops heartbeating goes down and its allocations are replaced elsewhere', async () => {
    const a = await ctl.cluster.registerNode(aRegistration({ name: 'a' }));
    await ctl.cluster.registerJob(aJob({ placement: 'binpack' }, 2));
    await settle();
    const onA = live();
    assert.equal(onA.length, 2);
    assert.ok(onA.every((x) => x.nodeId === a.node.id));
    await ctl.cluster.updateAllocStatus(a.node.id, onA.map(running));

    const b = await ctl.cluster.registerNode(aRegistration({ name: 'b' }));
    // b keeps heartbeating, a does not.
    for (let t = 0; t < 12; t++) {
      clock.advance(1_000);
      await ctl.cluster.heartbeat(b.node.id);
      await ctl.monitor.tick();
    }
    await settle();
    assert.equal(cache.node(a.node.id)?.status, 'down');
    const now = live();
    assert.equal(now.length, 2);
    assert.ok(now.every((x) => x.nodeId === b.node.id));
    for (const old of onA) {
      const v = cache.alloc(old.id)!;
      assert.equal(v.desiredStatus, 'stop');
      assert.equal(v.clientStatus, 'lost');
    }
    // Replacements remember what they replace.
    assert.deepEqual(new Set(now.map((x) => x.previousAllocId)), new Set(onA.map((x) => x.id)));
  });

  test('stopping a job stops its allocations; purge removes it', async () => {
    const n = await ctl.cluster.registerNode(aRegistration());
    await ctl.cluster.registerJob(aJob());
    await settle();
    const stop = await ctl.cluster.stopJob('default', 'web', { purge: false });
    assert.ok(stop.evalId);
    await settle();
    assert.equal(live().length, 0);
    assert.equal(cache.job('default', 'web')?.stopped, true);
    await ctl.cluster.updateAllocStatus(
      n.node.id,
      cache.allocsByJob('default', 'web').map((a) => ({ ...running(a), clientStatus: 'complete' as const })),
    );
    await ctl.cluster.stopJob('default', 'web', { purge: true });
    await settle();
    assert.equal(cache.job('default', 'web'), undefined);
    await ctl.gc.collect();
    await settle();
    assert.equal(cache.allocsByJob('default', 'web').length, 0);
    await assert.rejects(ctl.cluster.stopJob('default', 'web', { purge: false }), { code: 'NOT_FOUND' });
  });

  test('a failed allocation is replaced, and the blocking query wakes the node', async () => {
    const n = await ctl.cluster.registerNode(aRegistration());
    const idx0 = await ctl.cluster.waitForNodeAllocs(n.node.id, 0, 1_000);
    await ctl.cluster.registerJob(aJob({}, 1));
    await settle();
    const idx1 = await ctl.cluster.waitForNodeAllocs(n.node.id, idx0, 1_000);
    assert.ok(idx1 > idx0, 'placement wakes the node');
    const [first] = live();
    await ctl.cluster.updateAllocStatus(n.node.id, [running(first!)]);
    // The agent's own report does not wake it.
    const waiting = ctl.cluster.waitForNodeAllocs(n.node.id, idx1, 5_000);
    await settle();
    await ctl.cluster.updateAllocStatus(n.node.id, [{ ...running(first!), clientStatus: 'failed' }]);
    await settle();
    const idx2 = await waiting;
    assert.ok(idx2 > idx1);
    const now = live();
    assert.equal(now.length, 1);
    assert.notEqual(now[0]!.id, first!.id);
    assert.equal(now[0]!.previousAllocId, first!.id);
  });

  test('status reports for allocations of another node are ignored; wrong secrets are refused', async () => {
    const a = await ctl.cluster.registerNode(aRegistration({ name: 'a' }));
    const b = await ctl.cluster.registerNode(aRegistration({ name: 'b', resources: { cpuMhz: 10, memoryMb: 10 } }));
    await ctl.cluster.registerJob(aJob({}, 1));
    await settle();
    const [x] = live();
    assert.equal(x!.nodeId, a.node.id);
    await ctl.cluster.updateAllocStatus(b.node.id, [running(x!)]);
    assert.equal(cache.alloc(x!.id)!.clientStatus, 'pending');
    assert.equal(await ctl.cluster.authenticateNode(a.node.id, a.secret), true);
    assert.equal(await ctl.cluster.authenticateNode(a.node.id, b.secret), false);
    await assert.rejects(ctl.cluster.registerNode(aRegistration({ nodeId: a.node.id, secret: 'nope' })), { code: 'UNAUTHORIZED' });
    const again = await ctl.cluster.registerNode(aRegistration({ nodeId: a.node.id, secret: a.secret, name: 'a2' }));
    assert.equal(again.node.id, a.node.id);
  });

  test('a heartbeat and a drain at the same time both take effect', async () => {
    const { node } = await ctl.cluster.registerNode(aRegistration());
    const unhealthy = { docker: { healthy: false, detail: 'engine restarting' } };
    await Promise.all([ctl.cluster.drainNode(node.id, { enable: true, deadlineMs: 60_000, ignoreSystem: false }), ctl.cluster.heartbeat(node.id, unhealthy)]);
    await settle();
    const after = cache.node(node.id)!;
    // With nothing on it the drain completes at once; either way it was not undone.
    assert.ok(after.drain || after.lastDrain?.message === 'drain complete', 'the drain survived the heartbeat');
    assert.equal(after.eligibility, 'ineligible');
    assert.equal(after.drivers.docker?.healthy, false, 'the heartbeat survived the drain');
  });
});
