import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from '../core/job.js';
import { aServiceJob, aTask } from '../core/testing.js';
import { NODE_WAKE_INTERVAL_MS, NODE_WAKES_PER_SECOND, nodeWakeIntervalMs } from './cluster.js';
import { ControllerHarness, aRegistration } from './testing.js';

const job = (name: string): Job => aServiceJob({ name }, { count: 1, tasks: [aTask({ resources: { cpuMhz: 10, memoryMb: 16 } })] });

/** Registers a one-allocation job and lets the controllers schedule and apply it, without moving the clock. */
async function place(h: ControllerHarness, name: string) {
  await h.ctl.cluster.registerJob(job(name));
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setImmediate(r));
    await h.ctl.queue.idle();
  }
  const placed = h.cache.allocsByJob('default', name);
  assert.equal(placed.length, 1, `${name} placed`);
  return placed[0]!;
}

test("a node's blocking query answers at once after a quiet spell, then at most once per interval during a burst", async () => {
  const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 600_000 } }).start();
  try {
    const { node } = await h.ctl.cluster.registerNode(aRegistration());
    const placed = (name: string) => place(h, name);
    const idx0 = await h.ctl.cluster.waitForNodeAllocs(node.id, 0, 60_000);

    await placed('a');
    const idx1 = await h.ctl.cluster.waitForNodeAllocs(node.id, idx0, 60_000);
    assert.ok(idx1 > idx0, 'the first change answers at once');

    let answered: number | undefined;
    const waiting = h.ctl.cluster.waitForNodeAllocs(node.id, idx1, 60_000).then((i) => (answered = i));
    await placed('b');
    await placed('c');
    await new Promise((r) => setImmediate(r));
    assert.equal(answered, undefined, 'changes within the interval wait for its end');
    h.clock.advance(NODE_WAKE_INTERVAL_MS);
    const idx2 = await waiting;
    assert.ok(idx2 > idx1);
    // One answer covers both: polling again with it waits.
    let again: number | undefined;
    const next = h.ctl.cluster.waitForNodeAllocs(node.id, idx2, 1_000).then((i) => (again = i));
    await new Promise((r) => setImmediate(r));
    assert.equal(again, undefined);
    h.clock.advance(1_000);
    assert.equal(await next, idx2, 'nothing new: the wait times out with the same index');
  } finally {
    await h.stop();
  }
});

test('the wake interval grows with the node count, so a burst everywhere stays under NODE_WAKES_PER_SECOND answers', () => {
  assert.equal(nodeWakeIntervalMs(1), NODE_WAKE_INTERVAL_MS);
  assert.equal(nodeWakeIntervalMs(500), 250);
  assert.equal(nodeWakeIntervalMs(1_000), 500);
  assert.equal(nodeWakeIntervalMs(5_000), 2_500);
  for (const n of [1_000, 5_000, 20_000]) assert.ok(n / (nodeWakeIntervalMs(n) / 1000) <= NODE_WAKES_PER_SECOND);
});

test('with 600 nodes a node is woken at most every 300 ms during a burst, not every 250 ms', async () => {
  const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 600_000 } }).start();
  try {
    const { node } = await h.ctl.cluster.registerNode(aRegistration({ name: 'n0' }));
    // The others are full: every placement lands on n0.
    for (let i = 1; i < 600; i++) await h.ctl.cluster.registerNode(aRegistration({ name: `n${i}`, resources: { cpuMhz: 1, memoryMb: 1 } }));
    h.clock.advance(1_000); // the node count is re-read at most once a second
    const placed = async (name: string) => {
      await h.ctl.cluster.registerJob(job(name));
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setImmediate(r));
        await h.ctl.queue.idle();
      }
      assert.equal(h.cache.allocsByJob('default', name)[0]?.nodeId, node.id, `${name} placed on n0`);
    };
    const idx0 = await h.ctl.cluster.waitForNodeAllocs(node.id, 0, 60_000);
    await placed('a');
    const idx1 = await h.ctl.cluster.waitForNodeAllocs(node.id, idx0, 60_000);
    let answered: number | undefined;
    const waiting = h.ctl.cluster.waitForNodeAllocs(node.id, idx1, 60_000).then((i) => (answered = i));
    await placed('b');
    h.clock.advance(NODE_WAKE_INTERVAL_MS);
    await new Promise((r) => setImmediate(r));
    assert.equal(answered, undefined, 'still within 300 ms of the last wake');
    h.clock.advance(50);
    assert.ok((await waiting) > idx1);
  } finally {
    await h.stop();
  }
});

test('nodeAllocChanges: what changed on a node since an index it was answered with; undefined (the whole list) once that index is no longer covered', async () => {
  const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 600_000 } }).start();
  try {
    const { node } = await h.ctl.cluster.registerNode(aRegistration());
    const placed = (name: string) => place(h, name);
    const a = await placed('a');
    const i1 = h.cache.revision;
    assert.deepEqual(h.ctl.cluster.nodeAllocChanges(node.id, i1), [], 'nothing since');
    const b = await placed('b');
    const c = await placed('c');
    assert.deepEqual(h.ctl.cluster.nodeAllocChanges(node.id, i1), [b.id, c.id]);
    // The agent's own report changes nothing on its list...
    await h.ctl.cluster.updateAllocStatus(node.id, [{ id: b.id, nodeId: node.id, clientStatus: 'running', clientDescription: '', taskStates: {}, updatedAt: 1 }]);
    assert.deepEqual(h.ctl.cluster.nodeAllocChanges(node.id, i1), [b.id, c.id]);
    // ...unless it takes a stopped allocation off it.
    await h.ctl.cluster.stopJob('default', 'a', { purge: false });
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      await h.ctl.queue.idle();
    }
    assert.equal(h.cache.alloc(a.id)?.desiredStatus, 'stop');
    const i2 = h.cache.revision;
    await h.ctl.cluster.updateAllocStatus(node.id, [{ id: a.id, nodeId: node.id, clientStatus: 'complete', clientDescription: '', taskStates: {}, updatedAt: 2 }]);
    assert.deepEqual(h.ctl.cluster.nodeAllocChanges(node.id, i2), [a.id]);
    // Asking with i2 says the agent holds everything up to it: an older index is no longer covered.
    assert.equal(h.ctl.cluster.nodeAllocChanges(node.id, i1), undefined);
    // Nor is one this store never reached (it was wiped and counts anew).
    assert.equal(h.ctl.cluster.nodeAllocChanges(node.id, h.cache.revision + 1), undefined);
  } finally {
    await h.stop();
  }
});
