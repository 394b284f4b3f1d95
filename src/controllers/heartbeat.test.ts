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
