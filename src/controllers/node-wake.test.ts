import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from '../core/job.js';
import { aServiceJob, aTask } from '../core/testing.js';
import { NODE_WAKE_INTERVAL_MS } from './cluster.js';
import { ControllerHarness, aRegistration } from './testing.js';

const job = (name: string): Job => aServiceJob({ name }, { count: 1, tasks: [aTask({ resources: { cpuMhz: 10, memoryMb: 16 } })] });

test("a node's blocking query answers at once after a quiet spell, then at most once per interval during a burst", async () => {
  const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 600_000 } }).start();
  try {
    const { node } = await h.ctl.cluster.registerNode(aRegistration());
    const placed = async (name: string) => {
      await h.ctl.cluster.registerJob(job(name));
      // Schedule and apply without moving the clock.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setImmediate(r));
        await h.ctl.queue.idle();
      }
      assert.equal(h.cache.allocsByJob('default', name).length, 1, `${name} placed`);
    };
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
