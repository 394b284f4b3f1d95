import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AllocId, NodeId } from '../../core/ids.js';
import type { RebalanceResponse } from '../../client/types.js';
import { aNode, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

const id = (s: string) => s as AllocId;

describe('karu node eligibility / drain', () => {
  it('eligibility: --disable and --enable, exactly one of them', async () => {
    const api = new FakeApi();
    api.nodes = [aNode()];
    const off = await runKaru(['node', 'eligibility', 'node1', '--disable'], { api });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, 'Node node1 is ineligible: it keeps its allocations but takes no new ones.\n');
    assert.equal(api.nodes[0]!.eligibility, 'ineligible');
    assert.deepEqual(api.requests.at(-1)!.body, { eligible: false });
    const neither = await runKaru(['node', 'eligibility', 'node1'], { api });
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /exactly one of --enable or --disable/);
  });

  it('drain: shows progress, not movable allocations once, until the drain completes', async () => {
    const api = new FakeApi();
    api.nodes = [aNode()];
    const progress = [
      { left: 3, migrating: 1, batch: 0, notMovable: [{ allocId: id('alloc_01hzzzzzzz9999aaaabbbbcccc'), name: 'db.main[0]', why: 'not movable (uses host path /srv/db)' }] },
      { left: 2, migrating: 1, batch: 0, notMovable: [{ allocId: id('alloc_01hzzzzzzz9999aaaabbbbcccc'), name: 'db.main[0]', why: 'not movable (uses host path /srv/db)' }] },
      { left: 2, migrating: 1, batch: 0, notMovable: [{ allocId: id('alloc_01hzzzzzzz9999aaaabbbbcccc'), name: 'db.main[0]', why: 'not movable (uses host path /srv/db)' }] },
    ];
    api.onGetNode = (node, call) => {
      const p = progress[call];
      const i = api.nodes.findIndex((n) => n.id === node.id);
      if (p) api.nodes[i] = { ...api.nodes[i]!, drainProgress: { startedAt: T0, deadlineAt: T0 + 600_000, ...p } };
      else api.nodes[i] = { ...api.nodes[i]!, drain: false, lastDrain: { completedAt: T0, message: 'drain complete' } };
    };
    const r = await runKaru(['node', 'drain', 'node1', '--deadline', '10m'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.requests.find((q) => q.path.endsWith('/drain'))!.body, { enable: true, deadlineMs: 600_000 });
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^Draining node1: deadline /);
    assert.deepEqual(lines.slice(1, -1), [
      '  db.main[0]: not movable (uses host path /srv/db); it stays until the deadline, then is stopped (lost by drain)',
      '  3 allocations left: 1 migrating, 1 not movable',
      '  2 allocations left: 1 migrating, 1 not movable',
    ]);
    assert.match(lines.at(-1)!, /^node1: drain complete \(\d+s\)\.$/);
  });

  it('drain --detach returns at once; --disable cancels; a bad deadline is a usage error', async () => {
    const api = new FakeApi();
    api.nodes = [aNode()];
    const d = await runKaru(['node', 'drain', 'node1', '--detach'], { api });
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Follow it with `karu node drain node1 --monitor`/);
    assert.equal(api.nodes[0]!.drain, true);
    const status = await runKaru(['node', 'status', 'node1'], { api });
    assert.match(status.stdout, /^Drain {7}= yes — /m);
    const off = await runKaru(['node', 'drain', 'node1', '--disable'], { api });
    assert.equal(off.stdout, 'Drain of node1 cancelled: it takes new allocations again.\n');
    assert.deepEqual(api.requests.at(-1)!.body, { enable: false });
    const bad = await runKaru(['node', 'drain', 'node1', '--deadline', 'soon'], { api });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /'soon' is not a duration/);
    const missing = await runKaru(['node', 'drain', 'node9'], { api });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no node 'node9'/);
  });
});

describe('karu rebalance', () => {
  const answer = (dryRun: boolean): RebalanceResponse => ({
    dryRun,
    ...(dryRun ? {} : { batchId: 'rebalance_x' }),
    moves: [
      {
        allocId: id('alloc_01hzzzzzzz0001aaaabbbbcccc'),
        name: 'web.app[2]',
        namespace: 'default',
        jobName: 'web',
        fromNodeId: 'node_a' as NodeId,
        fromNodeName: 'a',
        toNodeId: 'node_b' as NodeId,
        toNodeName: 'b',
        why: 'evens out a and b',
      },
    ],
    before: [
      { nodeId: 'node_a' as NodeId, name: 'a', cpu: 0.5, memory: 0.25, allocs: 4 },
      { nodeId: 'node_b' as NodeId, name: 'b', cpu: 0, memory: 0, allocs: 0 },
    ],
    after: [
      { nodeId: 'node_a' as NodeId, name: 'a', cpu: 0.375, memory: 0.1875, allocs: 3 },
      { nodeId: 'node_b' as NodeId, name: 'b', cpu: 0.125, memory: 0.0625, allocs: 1 },
    ],
    imbalanceBefore: 0.2795,
    imbalanceAfter: 0.1398,
    notMovable: [{ allocId: id('alloc_01hzzzzzzz0002aaaabbbbcccc'), name: 'db.main[0]', nodeName: 'a', why: 'not movable (uses host path /srv/db)' }],
  });

  it('--plan prints the moves, the utilisation before and after, and what cannot move', async () => {
    const api = new FakeApi();
    api.rebalanceAnswer = (body) => answer(Boolean(body.dryRun));
    const r = await runKaru(['rebalance', '--plan', '--max-parallel', '2'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.requests.at(-1)!.body, { dryRun: true, maxParallel: 2 });
    assert.match(r.stdout, /^1 move: imbalance 0\.280 → 0\.140$/m);
    assert.match(r.stdout, /^0001aaaa\s+web\.app\[2\]\s+a\s+b\s+evens out a and b$/m);
    assert.match(r.stdout, /^a\s+50%\s+38%\s+25%\s+19%\s+4 → 3$/m);
    assert.match(r.stdout, /^ {2}0002aaaa {2}db\.main\[0\] on a: not movable \(uses host path \/srv\/db\)$/m);
    assert.match(r.stdout, /Apply with `karu rebalance --max-parallel 2`/);
  });

  it('without --plan applies, for one job when asked', async () => {
    const api = new FakeApi();
    api.rebalanceAnswer = (body) => answer(Boolean(body.dryRun));
    const r = await runKaru(['rebalance', '--job', 'web'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.requests.at(-1)!.body, { dryRun: false, maxParallel: 1, job: 'web', namespace: 'default' });
    assert.match(r.stdout, /Moving 1 allocation, at most 1 at a time/);
  });
});
