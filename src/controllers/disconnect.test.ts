import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus, AllocView } from '../core/alloc.js';
import type { DisconnectPolicy, DisconnectReconcile } from '../core/disconnect.js';
import type { NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import type { StateCache } from '../store/state.js';
import { Controllers } from './control-loop.js';
import { ControllerHarness, aRegistration } from './testing.js';
import { aServiceJob } from '../core/testing.js';

/**
 * Failure detection and the disconnect policy against a real store: heartbeats stop,
 * the node is disconnected or down, the scheduler replaces, the node returns, and the
 * running count ends at exactly the desired count.
 */

const TTL = 2_000;
const GRACE = 1_000;

function aJob(disconnect: Partial<DisconnectPolicy> | undefined, count = 1): Job {
  return aServiceJob({}, { count, ...(disconnect ? { disconnect: { lostAfterMs: 0, replace: true, stopOnClientAfterMs: null, reconcile: 'best_score', ...disconnect } } : {}) });
}

const running = (a: AllocView): AllocStatus => ({
  id: a.id,
  nodeId: a.nodeId,
  clientStatus: 'running',
  clientDescription: '',
  taskStates: { server: { state: 'running', failed: false, restarts: 0, events: [] } },
  updatedAt: 0,
});

describe('failure detection and the disconnect policy against a real store', () => {
  let clock: FakeClock;
  let cache: StateCache & { close(): void };
  let ctl: Controllers;

  let h: ControllerHarness;

  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: TTL, graceMs: GRACE } }).start();
    ({ clock, cache, ctl } = h);
  });

  afterEach(() => h.stop());

  /** Lets the queue, the watch, the drainer and due timers run until nothing moves. */
  const settle = () => h.settle(0);

  /** Time passes in 500 ms steps; the `alive` nodes heartbeat and report their allocations running. */
  async function pass(ms: number, alive: NodeId[]): Promise<void> {
    for (let t = 0; t < ms; t += 500) {
      clock.advance(500);
      for (const id of alive) {
        await ctl.cluster.heartbeat(id);
        const mine = cache.allocsByNode(id).filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'pending');
        if (mine.length) await ctl.cluster.updateAllocStatus(id, mine.map(running));
      }
      await settle();
    }
  }

  const wanted = () => cache.allocsByJob('default', 'web').filter((a) => a.desiredStatus === 'run');

  async function twoNodesOneCopyOnA(disconnect: Partial<DisconnectPolicy> | undefined) {
    const regA = await ctl.cluster.registerNode(aRegistration({ name: 'a' }));
    const a = regA.node.id;
    await ctl.cluster.registerJob(aJob(disconnect));
    await pass(500, [a]);
    const b = (await ctl.cluster.registerNode(aRegistration({ name: 'b' }))).node.id;
    const [original] = wanted();
    assert.equal(original?.nodeId, a);
    return { a, b, original: original!, secretA: regA.secret };
  }

  test('defaults: a silent node is down after TTL + grace, and its allocation runs elsewhere', async () => {
    const { a, b, original } = await twoNodesOneCopyOnA(undefined);
    await pass(TTL + GRACE - 500, [b]);
    assert.equal(cache.node(a)?.status, 'ready', 'not before TTL + grace');
    await pass(1_000, [b]);
    assert.equal(cache.node(a)?.status, 'down');
    assert.match(cache.node(a)!.events!.at(-1)!.message, /missed heartbeats.*down/);
    assert.equal(cache.alloc(original.id)?.clientStatus, 'lost');
    const now = wanted();
    assert.equal(now.length, 1);
    assert.equal(now[0]!.nodeId, b);
    assert.equal(now[0]!.clientStatus, 'running', 'the replacement runs within the same second');
    // The node returns: its old allocation stays stopped; nothing runs twice.
    await pass(1_000, [a, b]);
    assert.equal(cache.node(a)?.status, 'ready');
    assert.deepEqual(cache.node(a)!.events!.map((e) => e.status), ['ready', 'down', 'ready']);
    assert.equal(wanted().length, 1);
  });

  for (const [reconcile, survivor] of [
    ['keep_original', 'original'],
    ['keep_replacement', 'replacement'],
    ['best_score', 'original'], // equal nodes: the tie goes to the copy that need not move
  ] as const satisfies readonly (readonly [DisconnectReconcile, string])[]) {
    test(`partition and heal with reconcile ${reconcile}: disconnected, replaced, back → exactly one copy (the ${survivor})`, async () => {
      const { a, b, original } = await twoNodesOneCopyOnA({ lostAfterMs: 60_000, replace: true, reconcile });
      await pass(TTL + GRACE + 500, [b]);
      assert.equal(cache.node(a)?.status, 'disconnected');
      assert.equal(cache.alloc(original.id)?.desiredStatus, 'run', 'the original is kept while disconnected');
      const both = wanted();
      assert.equal(both.length, 2, 'a replacement was placed meanwhile');
      const replacement = both.find((x) => x.id !== original.id)!;
      assert.deepEqual([replacement.nodeId, replacement.previousAllocId, replacement.clientStatus], [b, original.id, 'running']);

      await pass(10_000, [b]);
      assert.equal(wanted().length, 2, 'stable while the partition lasts');
      await pass(1_000, [a, b]);
      assert.equal(cache.node(a)?.status, 'ready');
      const left = wanted();
      assert.equal(left.length, 1, 'exactly the desired count after the heal');
      assert.equal(left[0]!.id, survivor === 'original' ? original.id : replacement.id);
      await pass(5_000, [a, b]);
      assert.equal(wanted().length, 1, 'and it stays so');
    });
  }

  test('lostAfter passes: the allocation is lost (replaced only then, with replace off) and the node goes down', async () => {
    const { a, b, original } = await twoNodesOneCopyOnA({ lostAfterMs: 10_000, replace: false });
    await pass(TTL + GRACE + 500, [b]);
    assert.equal(cache.node(a)?.status, 'disconnected');
    assert.deepEqual(wanted().map((x) => x.id), [original.id], 'no replacement while only disconnected');
    await pass(10_000 - 1_000, [b]);
    assert.equal(cache.node(a)?.status, 'disconnected');
    await pass(1_500, [b]);
    assert.equal(cache.node(a)?.status, 'down');
    assert.deepEqual([cache.alloc(original.id)?.desiredStatus, cache.alloc(original.id)?.clientStatus], ['stop', 'lost']);
    const now = wanted();
    assert.equal(now.length, 1);
    assert.deepEqual([now[0]!.nodeId, now[0]!.previousAllocId], [b, original.id]);
    assert.deepEqual(cache.node(a)!.events!.map((e) => e.status), ['ready', 'disconnected', 'down']);
  });

  test('a node restarting its agent (re-registering) while disconnected also settles the duplicates', async () => {
    const { a, b, secretA } = await twoNodesOneCopyOnA({ lostAfterMs: 60_000, reconcile: 'keep_replacement' });
    await pass(TTL + GRACE + 500, [b]);
    assert.equal(wanted().length, 2);
    const again = await ctl.cluster.registerNode(aRegistration({ name: 'a', nodeId: a, secret: secretA }));
    assert.equal(again.node.status, 'ready');
    await pass(500, [a, b]);
    assert.equal(wanted().length, 1);
    assert.equal(wanted()[0]!.nodeId, b);
  });
});
