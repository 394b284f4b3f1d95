import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Node } from '../core/node.js';
import type { NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import type { StateCache, StateStore } from '../store/state.js';
import { NODE_MONITOR_DEFAULTS, NodeMonitor } from './node-monitor.js';
import { ControllerHarness, aRegistration } from './testing.js';

/** A read model with `n` ready nodes, counting how often the node list is copied. */
function cacheOf(n: number): { cache: StateCache; listed: () => number } {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `node_${i}` as NodeId, status: 'ready' }) as Node);
  let listed = 0;
  const cache = {
    nodes: () => (listed++, nodes),
    node: (id: NodeId) => nodes.find((x) => x.id === id),
  } as unknown as StateCache;
  return { cache, listed: () => listed };
}

describe('heartbeats at scale', () => {
  test('the default rate keeps the 2 s TTL up to 5,000 nodes, and grows it past that', () => {
    const clock = new FakeClock();
    const ttl = (n: number) => new NodeMonitor({ stateStore: {} as StateStore, cache: cacheOf(n).cache, clock, logger: silentLogger() }).ttlMs();
    assert.equal(NODE_MONITOR_DEFAULTS.maxHeartbeatsPerSecond, 2_500);
    assert.equal(ttl(1), 2_000);
    assert.equal(ttl(5_000), 2_000);
    assert.equal(ttl(10_000), 4_000);
  });

  test('a beat does not count the nodes: the TTL is worked out at most once a second', () => {
    const clock = new FakeClock();
    const { cache, listed } = cacheOf(5_000);
    const monitor = new NodeMonitor({ stateStore: {} as StateStore, cache, clock, logger: silentLogger() });
    for (let i = 0; i < 7_500; i++) monitor.beat(`node_${i % 5_000}` as NodeId);
    assert.equal(listed(), 1);
    clock.advance(1_000);
    monitor.beat('node_1' as NodeId);
    assert.equal(listed(), 2);
  });
});

describe('a heartbeat costs no store access', () => {
  let h: ControllerHarness;
  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 10_000, graceMs: 0 } }).start();
  });
  afterEach(() => h.stop());

  test('no write and, once the secret was proven, no read per beat; a removed node is refused at once', async () => {
    const { node, secret } = await h.ctl.cluster.registerNode(aRegistration());
    assert.equal(await h.ctl.cluster.authenticateNode(node.id, secret), true);
    const store = h.store;
    let reads = 0;
    let writes = 0;
    const get = store.get.bind(store);
    const txn = store.txn.bind(store);
    store.get = (key) => (reads++, get(key));
    store.txn = (req) => (writes++, txn(req));
    const revision = h.cache.revision;
    for (let i = 0; i < 100; i++) {
      assert.equal(await h.ctl.cluster.authenticateNode(node.id, secret), true);
      await h.ctl.cluster.heartbeat(node.id, aRegistration().drivers);
    }
    assert.equal(reads, 0);
    assert.equal(writes, 0);
    assert.equal(h.cache.revision, revision);
    assert.equal(await h.ctl.cluster.authenticateNode(node.id, 'wrong'), false);

    store.get = get;
    store.txn = txn;
    await h.ctl.cluster.removeNode(node.id);
    assert.equal(await h.ctl.cluster.authenticateNode(node.id, secret), false);
    assert.equal(await h.ctl.cluster.isNodeRevoked(node.id), true);
  });

  test('drivers: the same object again is no change; a changed health is written, also after equal beats', async () => {
    const { node } = await h.ctl.cluster.registerNode(aRegistration());
    const same = aRegistration().drivers;
    let writes = 0;
    const txn = h.store.txn.bind(h.store);
    h.store.txn = (req) => (writes++, txn(req));
    for (let i = 0; i < 3; i++) await h.ctl.cluster.heartbeat(node.id, same);
    assert.equal(writes, 0);
    const sick = Object.fromEntries(Object.keys(same).map((name) => [name, { healthy: false, detail: 'engine gone' }]));
    await h.ctl.cluster.heartbeat(node.id, sick);
    assert.equal(writes, 1);
    assert.deepEqual(h.cache.node(node.id)!.drivers, sick);
    // Back to the object seen before: the stored drivers changed meanwhile, so it is compared again and written.
    await h.ctl.cluster.heartbeat(node.id, same);
    assert.equal(writes, 2);
    assert.deepEqual(h.cache.node(node.id)!.drivers, same);
    await h.ctl.cluster.heartbeat(node.id, same);
    assert.equal(writes, 2);
  });

  test('the proven secret is read again after 10 s', async () => {
    const { node, secret } = await h.ctl.cluster.registerNode(aRegistration());
    await h.ctl.cluster.authenticateNode(node.id, secret);
    let reads = 0;
    const get = h.store.get.bind(h.store);
    h.store.get = (key) => (reads++, get(key));
    (h.clock as FakeClock).advance(10_000);
    assert.equal(await h.ctl.cluster.authenticateNode(node.id, secret), true);
    assert.equal(reads, 2, 'secret and revocation read again');
  });
});

describe('a status report counts as a heartbeat', () => {
  test('a ready node that reports but does not beat stays ready; silent, it goes down; a down node is not brought back by a report', async () => {
    const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 2_000, graceMs: 0 } }).start();
    try {
      const { node } = await h.ctl.cluster.registerNode(aRegistration());
      for (let t = 0; t < 5; t++) {
        h.clock.advance(1_500);
        await h.ctl.cluster.updateAllocStatus(node.id, []);
        await h.ctl.monitor.tick();
      }
      assert.equal(h.cache.node(node.id)?.status, 'ready');
      h.clock.advance(2_100);
      await h.ctl.monitor.tick();
      assert.equal(h.cache.node(node.id)?.status, 'down');
      await h.ctl.cluster.updateAllocStatus(node.id, []);
      h.clock.advance(2_100);
      await h.ctl.monitor.tick();
      assert.equal(h.cache.node(node.id)?.status, 'down', 'only a heartbeat brings a node back');
    } finally {
      await h.stop();
    }
  });
});

describe('stopping the monitor', () => {
  test('a tick under way marks no further node once stopped, and idle() waits for it (the store closes next)', async () => {
    const h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 2_000, graceMs: 0 } }).start();
    try {
      for (let i = 0; i < 3; i++) await h.ctl.cluster.registerNode(aRegistration({ name: `n${i}` }));
      h.clock.advance(2_100);
      const ticking = h.ctl.monitor.tick(); // marks the first due node, then awaits its write
      h.ctl.monitor.stop();
      await ticking;
      await h.ctl.monitor.idle();
      await h.cache.waitFor(await h.store.revision());
      assert.deepEqual(h.cache.nodes().map((n) => n.status).sort(), ['down', 'ready', 'ready']);
    } finally {
      await h.stop();
    }
  });
});

describe('the monitor forgives its own delays', () => {
  /** A clock whose single pending timer the test fires itself, as late as it likes. */
  function lateClock() {
    let now = 1_700_000_000_000;
    let pending: { at: number; fn: () => void } | undefined;
    const clock = {
      now: () => now,
      setTimer: (ms: number, fn: () => void) => {
        const t = { at: now + ms, fn };
        pending = t;
        return () => {
          if (pending === t) pending = undefined;
        };
      },
    };
    /** Fires the pending tick `lateMs` after it was due, and lets the tick's async work end. */
    const fire = async (lateMs: number) => {
      const t = pending!;
      now = t.at + lateMs;
      t.fn();
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    return { clock, fire };
  }

  test('ticks that each run a little late (under the 500 ms stall) add up to no false down mark', async () => {
    const { clock, fire } = lateClock();
    const node = { id: 'node_a' as NodeId, status: 'ready' } as Node;
    let marked = 0;
    const cache = { nodes: () => [node], node: () => node, allocsByNode: () => [] } as unknown as StateCache;
    const stateStore = { getNode: async () => ((marked++, undefined)) } as unknown as StateStore;
    const monitor = new NodeMonitor({ stateStore, cache, clock, logger: silentLogger() }, { minTtlMs: 2_000, graceMs: 1_000 });
    monitor.start();
    monitor.beat(node.id); // deadline: now + 3 s
    // Ticks every 500 ms, each 400 ms late: 4 ticks take 3.6 s of wall time (past the 3 s
    // deadline), of which this process did not run for 1.6 s.
    for (let i = 0; i < 4; i++) await fire(400);
    assert.equal(marked, 0, 'the node was not looked at as missed');
    // On time from here: the deadline, moved by every delay (to 4.6 s), passes within 2 ticks.
    await fire(0);
    assert.equal(marked, 0);
    await fire(0);
    assert.equal(marked, 1, 'a node that really stays silent is still marked');
    monitor.stop();
  });
});
