import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AllocId, NodeId } from '../core/ids.js';
import { isLive } from '../core/alloc.js';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { silentLogger } from '../lib/logger.js';
import { openSqliteStore, type SqliteStore } from './sqlite/sqlite-store.js';
import { openStateCache } from './state-cache.js';
import { createStateStore } from './state-store.js';
import type { StateCache, StateChange, StateStore } from './state.js';
import { CompactedError, type Store, type WatchEvent } from './store.js';
import { aJob, anAlloc, anEval, aNode, aStatus } from './testing.js';

const A1 = 'alloc_1' as AllocId;
const N1 = 'node_1' as NodeId;
const N2 = 'node_2' as NodeId;
const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();

describe('openStateCache', { timeout: 10_000 }, () => {
  let clock: FakeClock;
  let store: SqliteStore;
  let state: StateStore;
  let cache: (StateCache & { close(): void }) | undefined;
  const open = async (s: Store = store) => (cache = await openStateCache(s, { clock, logger: silentLogger() }));

  beforeEach(() => {
    clock = new FakeClock();
    store = openSqliteStore({ path: ':memory:', clock });
    state = createStateStore(store);
  });
  afterEach(async () => {
    cache?.close();
    cache = undefined;
    await store.close();
  });

  it('holds what was written before it opened, and follows what is written after', async () => {
    await state.commit([{ kind: 'job', value: aJob() }, { kind: 'node', value: aNode('node_1') }, { kind: 'eval', value: anEval('eval_1') }]);
    const c = await open();
    assert.equal(c.job('default', 'web')?.priority, 50);
    assert.equal(c.node(N1)?.status, 'ready');
    assert.equal(c.revision, await store.revision());

    const rev = await state.commit([{ kind: 'job', value: aJob({ name: 'db' }) }, { kind: 'node', value: aNode('node_1', { status: 'down' }) }], [{ kind: 'eval', id: 'eval_1' as never }]);
    await c.waitFor(rev);
    assert.equal(c.revision, rev);
    assert.deepEqual(c.jobs().map((j) => j.name).sort(), ['db', 'web']);
    assert.deepEqual(c.jobs('other'), []);
    assert.equal(c.node(N1)?.status, 'down');
    assert.equal(c.eval('eval_1' as never), undefined);
    assert.deepEqual(c.evals(), []);
  });

  it('loses and doubles nothing when writes race with the initial list', async () => {
    await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1') }]);
    let raced = false;
    // A store whose list() lets other writers in around each read, as a remote store would.
    const racing: Store = Object.assign(Object.create(store) as Store, {
      list: async (prefix: string, opts?: { limit?: number; startAfter?: string }) => {
        if (!raced) {
          raced = true;
          await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1', { nodeId: N2 }) }]); // before the lists read
        }
        const res = await store.list(prefix, opts);
        if (prefix === '/evals/') await state.commit([{ kind: 'alloc', value: anAlloc('alloc_2') }, { kind: 'eval', value: anEval('eval_2') }]); // after some lists read
        return res;
      },
    });
    const seen: StateChange[][] = [];
    const c = await open(racing);
    c.subscribe((changes) => seen.push(changes));
    await c.waitFor(await store.revision());
    assert.equal(c.alloc(A1)?.nodeId, N2);
    assert.deepEqual(ids(c.allocsByNode(N1)), ['alloc_2']);
    assert.deepEqual(ids(c.allocsByNode(N2)), ['alloc_1']);
    assert.deepEqual(ids(c.evals({ namespace: 'default', jobName: 'web' })), ['eval_2']);
    assert.equal(c.allocs().length, 2);
    assert.equal(seen.length, 0, 'the initial state is not replayed to subscribers');
  });

  it('merges /allocs and /alloc-status into one view, whichever comes first', async () => {
    const c = await open();
    const changes: StateChange[] = [];
    c.subscribe((batch) => changes.push(...batch));

    await state.commit([{ kind: 'allocStatus', value: aStatus('alloc_1') }]);
    await c.waitFor(await store.revision());
    assert.equal(c.alloc(A1), undefined, 'a status alone is not an allocation');
    assert.equal(changes.length, 0);

    await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1') }]);
    await c.waitFor(await store.revision());
    assert.equal(c.alloc(A1)?.clientStatus, 'running');
    assert.equal(c.alloc(A1)?.desiredStatus, 'run');

    await state.commit([{ kind: 'allocStatus', value: aStatus('alloc_1', { clientStatus: 'failed', clientDescription: 'exit 1' }) }]);
    await c.waitFor(await store.revision());
    const last = changes[changes.length - 1]!;
    assert.equal(last.type, 'alloc');
    assert.equal(last.key, '/allocs/alloc_1');
    assert.equal(last.type === 'alloc' && last.before?.clientStatus, 'running');
    assert.equal(last.type === 'alloc' && last.after?.clientStatus, 'failed');
    assert.equal(c.alloc(A1)?.clientDescription, 'exit 1');

    await state.commit([], [{ kind: 'allocStatus', id: A1 }]);
    await c.waitFor(await store.revision());
    assert.equal(c.alloc(A1)?.clientStatus, 'pending', 'without a status the view is pending');
  });

  it('keeps the node and job indexes right as allocations move and go', async () => {
    await state.commit([
      { kind: 'alloc', value: anAlloc('alloc_1') },
      { kind: 'alloc', value: anAlloc('alloc_2', { index: 1 }) },
      { kind: 'alloc', value: anAlloc('alloc_3', { jobName: 'db', nodeId: N2 }) },
    ]);
    const c = await open();
    assert.deepEqual(ids(c.allocsByNode(N1)), ['alloc_1', 'alloc_2']);
    assert.deepEqual(ids(c.allocsByJob('default', 'web')), ['alloc_1', 'alloc_2']);
    assert.deepEqual(ids(c.allocsByJob('default', 'db')), ['alloc_3']);

    await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1', { nodeId: N2, jobName: 'db' }) }], [{ kind: 'alloc', id: 'alloc_2' as AllocId }]);
    await c.waitFor(await store.revision());
    assert.deepEqual(ids(c.allocsByNode(N1)), []);
    assert.deepEqual(ids(c.allocsByNode(N2)), ['alloc_1', 'alloc_3']);
    assert.deepEqual(ids(c.allocsByJob('default', 'web')), []);
    assert.deepEqual(ids(c.allocsByJob('default', 'db')), ['alloc_1', 'alloc_3']);
    assert.deepEqual(ids(c.allocs()), ['alloc_1', 'alloc_3']);
  });

  it('indexes evaluations by job', async () => {
    const c = await open();
    await state.commit([
      { kind: 'eval', value: anEval('eval_1') },
      { kind: 'eval', value: anEval('eval_2', { jobName: 'db' }) },
      { kind: 'eval', value: anEval('eval_3', { namespace: 'ops' }) },
    ]);
    await state.commit([{ kind: 'eval', value: anEval('eval_1', { jobName: 'db' }) }]);
    await c.waitFor(await store.revision());
    assert.deepEqual(ids(c.evals({ namespace: 'default', jobName: 'db' })), ['eval_1', 'eval_2']);
    assert.deepEqual(ids(c.evals({ namespace: 'default', jobName: 'web' })), []);
    assert.deepEqual(ids(c.evals({ namespace: 'ops' })), ['eval_3']);
    assert.deepEqual(ids(c.evals({ jobName: 'db' })), ['eval_1', 'eval_2']);
  });

  it('tells subscribers each committed batch once, in order, until they unsubscribe', async () => {
    const c = await open();
    const got: [string[], number][] = [];
    const off = c.subscribe((changes, revision) => got.push([changes.map((ch) => `${ch.type} ${ch.after ? 'set' : 'gone'}`), revision]));
    const r1 = await state.commit([{ kind: 'job', value: aJob() }, { kind: 'alloc', value: anAlloc('alloc_1') }, { kind: 'jobVersion', value: aJob() }]);
    const r2 = await state.commit([], [{ kind: 'job', namespace: 'default', name: 'web' }]);
    await c.waitFor(r2);
    off();
    await state.commit([{ kind: 'node', value: aNode('node_1') }]);
    await c.waitFor(await store.revision());
    assert.deepEqual(got, [
      [['job set', 'alloc set'], r1],
      [['job gone'], r2],
    ]);
  });

  it('keeps serving when a subscriber throws', async () => {
    const c = await open();
    let calls = 0;
    c.subscribe(() => {
      throw new Error('listener bug');
    });
    c.subscribe(() => calls++);
    await state.commit([{ kind: 'job', value: aJob() }]);
    await state.commit([{ kind: 'job', value: aJob({ priority: 1 }) }]);
    await c.waitFor(await store.revision());
    assert.equal(calls, 2);
    assert.equal(c.job('default', 'web')?.priority, 1);
  });

  it('hands out frozen objects, replaced rather than changed', async () => {
    await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1') }, { kind: 'allocStatus', value: aStatus('alloc_1') }]);
    const c = await open();
    const v1 = c.alloc(A1)!;
    assert.throws(() => {
      (v1 as { desiredStatus: string }).desiredStatus = 'stop';
    }, TypeError);
    assert.throws(() => {
      (v1.taskStates.main as { restarts: number }).restarts = 9;
    }, TypeError);
    await state.commit([{ kind: 'alloc', value: anAlloc('alloc_1', { desiredStatus: 'stop' }) }]);
    await c.waitFor(await store.revision());
    assert.equal(v1.desiredStatus, 'run', 'a reader holding the old view is unaffected');
    assert.equal(c.alloc(A1)?.desiredStatus, 'stop');
  });

  it('waitFor resolves once the revision is applied and times out on the clock', async () => {
    const c = await open();
    const r = await store.revision();
    await c.waitFor(r);
    const later = c.waitFor(r + 1);
    await store.put('/other/key', 'x'); // outside the cached prefixes: still a revision
    await later;
    const never = c.waitFor(r + 100, 1_000);
    clock.advance(1_000);
    await assert.rejects(never, (e: unknown) => (e as { code?: string }).code === 'UNAVAILABLE');
  });

  it('re-lists after CompactedError and tells subscribers what changed meanwhile', async () => {
    await state.commit([{ kind: 'job', value: aJob() }, { kind: 'alloc', value: anAlloc('alloc_1') }, { kind: 'alloc', value: anAlloc('alloc_2') }]);
    // A store whose watch we can cut, as etcd does when the watcher falls behind compaction.
    let cut: ((err: Error) => void) | undefined;
    let live = true;
    const cuttable: Store = Object.assign(Object.create(store) as Store, {
      watch: (prefix: string, from: number, onEvents: (e: WatchEvent[]) => void, onError?: (err: Error) => void) => {
        const mine = { live: true };
        cut = (err) => {
          mine.live = false;
          onError?.(err);
        };
        return store.watch(prefix, from, (events) => live && mine.live && onEvents(events), onError);
      },
    });
    const c = await open(cuttable);
    const seen: StateChange[] = [];
    c.subscribe((changes) => seen.push(...changes));

    live = false; // events from here on are lost to the old watch
    await state.commit([{ kind: 'job', value: aJob({ priority: 99 }) }, { kind: 'allocStatus', value: aStatus('alloc_1') }], [{ kind: 'alloc', id: 'alloc_2' as AllocId }]);
    assert.equal(c.job('default', 'web')?.priority, 50);
    live = true;
    await store.compact(await store.revision());
    cut!(new CompactedError(await store.revision()));
    await c.waitFor(await store.revision());
    await new Promise<void>((resolve) => {
      const off = c.subscribe(() => {
        off();
        resolve();
      });
      if (seen.length > 0) resolve();
    });

    assert.equal(c.job('default', 'web')?.priority, 99);
    assert.equal(c.alloc(A1)?.clientStatus, 'running');
    assert.equal(c.alloc('alloc_2' as AllocId), undefined);
    assert.deepEqual(ids(c.allocsByNode(N1)), ['alloc_1']);
    assert.deepEqual(seen.map((ch) => `${ch.type} ${ch.key} ${ch.after ? 'set' : 'gone'}`).sort(), [
      'alloc /allocs/alloc_1 set',
      'alloc /allocs/alloc_2 gone',
      'job /jobs/default/web set',
    ]);

    // And it carries on live after the rebuild.
    await state.commit([{ kind: 'node', value: aNode('node_9') }]);
    await c.waitFor(await store.revision());
    assert.ok(c.node('node_9' as NodeId));
  });

  it('keeps every node usage equal to the sum over its live allocations, whatever changes', async () => {
    const c = await open();
    const rng = seededRng(7);
    const nodes = ['node_1', 'node_2', 'node_3'];
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
    const statuses = new Map<string, string>();
    for (let step = 0; step < 300; step++) {
      const id = `alloc_${rng.int(1, 25)}`;
      const roll = rng.next();
      const write =
        roll < 0.45
          ? {
              kind: 'alloc' as const,
              value: anAlloc(id, {
                nodeId: pick(nodes) as NodeId,
                jobName: pick(['web', 'db']),
                desiredStatus: pick(['run', 'run', 'stop'] as const),
                resources: { cpuMhz: rng.int(1, 9) * 100, memoryMb: rng.int(1, 9) * 64 },
                ports: rng.next() < 0.5 ? [{ task: 'main', label: 'http', host: pick([8080, 8081, 20000]), to: 80 }] : [],
              }),
            }
          : roll < 0.85
            ? { kind: 'allocStatus' as const, value: aStatus(id, { clientStatus: pick(['pending', 'running', 'complete', 'failed', 'lost'] as const), ...(rng.next() < 0.3 ? { taskStates: {} } : {}) }) }
            : undefined;
      const deleted = write ? undefined : pick(['alloc', 'allocStatus'] as const);
      const rev = write ? await state.commit([write]) : await state.commit([], [{ kind: deleted!, id: id as AllocId }]);
      if (write?.kind === 'allocStatus') statuses.set(id, write.value.clientStatus);
      if (deleted === 'allocStatus') statuses.delete(id);
      await c.waitFor(rev);
      // Each view carries its status, whichever half came first or outlived the other.
      for (const a of c.allocs()) assert.equal(a.clientStatus, statuses.get(a.id) ?? 'pending', `step ${step}: ${a.id} status`);
      for (const n of nodes) {
        const live = c.allocsByNode(n as NodeId).filter(isLive);
        const u = c.nodeUsage!(n as NodeId);
        assert.equal(u.cpuMhz, live.reduce((x, a) => x + a.resources.cpuMhz, 0), `step ${step}: ${n} cpu`);
        assert.equal(u.memoryMb, live.reduce((x, a) => x + a.resources.memoryMb, 0), `step ${step}: ${n} memory`);
        assert.deepEqual([...u.ports].sort(), [...new Set(live.flatMap((a) => a.ports.map((p) => p.host)))].sort(), `step ${step}: ${n} ports`);
        const groups = new Map<string, number>();
        for (const a of live) groups.set(`${a.namespace}/${a.jobName}/${a.group}`, (groups.get(`${a.namespace}/${a.jobName}/${a.group}`) ?? 0) + 1);
        assert.deepEqual(new Map(u.groups), groups, `step ${step}: ${n} groups`);
      }
    }
  });
});
