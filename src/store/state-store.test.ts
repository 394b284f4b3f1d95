import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ConflictError } from '../core/errors.js';
import type { AllocId, NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { openSqliteStore, type SqliteStore } from './sqlite/sqlite-store.js';
import { keys, type StateStore } from './state.js';
import { createStateStore } from './state-store.js';
import { aJob, anAlloc, anEval, aNode, aStatus } from './testing.js';

describe('createStateStore', { timeout: 10_000 }, () => {
  let store: SqliteStore;
  let state: StateStore;
  beforeEach(() => {
    store = openSqliteStore({ path: ':memory:', clock: new FakeClock() });
    state = createStateStore(store);
  });
  afterEach(() => store.close());

  it('writes every kind of record as JSON under its key, and reads it back typed', async () => {
    const job = aJob({ name: 'api' });
    const rev = await state.commit([
      { kind: 'job', value: job },
      { kind: 'jobVersion', value: job },
      { kind: 'alloc', value: anAlloc('alloc_1') },
      { kind: 'allocStatus', value: aStatus('alloc_1') },
      { kind: 'node', value: aNode('node_1') },
      { kind: 'nodeSecret', nodeId: 'node_1' as NodeId, value: 'hash' },
      { kind: 'eval', value: anEval('eval_1') },
    ]);
    assert.equal(await store.revision(), rev, 'one commit, one revision');
    assert.deepEqual(JSON.parse((await store.get('/jobs/default/api'))!.value), job);
    assert.ok(await store.get('/job-versions/default/api/00000001'));
    assert.deepEqual(await state.getJob('default', 'api'), { value: job, modRevision: rev });
    assert.equal((await state.getAlloc('alloc_1' as AllocId))?.value.nodeId, 'node_1');
    assert.equal((await state.getAllocStatus('alloc_1' as AllocId))?.value.clientStatus, 'running');
    assert.equal((await state.getNode('node_1' as NodeId))?.value.name, 'node_1');
    assert.equal(await state.getNodeSecret('node_1' as NodeId), 'hash');
    assert.equal((await state.getEval('eval_1' as never))?.value.status, 'pending');
    assert.equal(await state.getJob('default', 'missing'), undefined);
  });

  it('lists job versions in version order', async () => {
    for (const v of [10, 2, 1]) await state.commit([{ kind: 'jobVersion', value: aJob({ version: v }) }]);
    await state.commit([{ kind: 'jobVersion', value: aJob({ name: 'web2', version: 5 }) }]);
    assert.deepEqual((await state.listJobVersions('default', 'web')).map((j) => j.version), [1, 2, 10]);
  });

  it('commits nothing and names the key when an expectation fails', async () => {
    const r1 = await state.commit([{ kind: 'job', value: aJob(), expectedModRevision: 0 }]);
    await state.commit([{ kind: 'job', value: aJob({ priority: 70 }), expectedModRevision: r1 }]);
    const before = await store.revision();
    await assert.rejects(
      state.commit([
        { kind: 'eval', value: anEval('eval_9') },
        { kind: 'job', value: aJob({ priority: 10 }), expectedModRevision: r1 },
      ]),
      (e: unknown) => e instanceof ConflictError && e.details.key === keys.job('default', 'web') && e.message.includes('/jobs/default/web'),
    );
    assert.equal(await store.revision(), before);
    assert.equal(await state.getEval('eval_9' as never), undefined);
    assert.equal((await state.getJob('default', 'web'))?.value.priority, 70);
  });

  it('create-only writes conflict when the record exists', async () => {
    await state.commit([{ kind: 'node', value: aNode('node_1') }]);
    await assert.rejects(state.commit([{ kind: 'node', value: aNode('node_1'), expectedModRevision: 0 }]), ConflictError);
  });

  it('deletes records, job history by prefix, and guards job deletes', async () => {
    const r = await state.commit([
      { kind: 'job', value: aJob() },
      { kind: 'jobVersion', value: aJob({ version: 1 }) },
      { kind: 'jobVersion', value: aJob({ version: 2 }) },
      { kind: 'alloc', value: anAlloc('alloc_1') },
      { kind: 'allocStatus', value: aStatus('alloc_1') },
    ]);
    await assert.rejects(state.commit([], [{ kind: 'job', namespace: 'default', name: 'web', expectedModRevision: r + 5 }]), ConflictError);
    await state.commit([], [
      { kind: 'job', namespace: 'default', name: 'web', expectedModRevision: r },
      { kind: 'jobVersions', namespace: 'default', name: 'web' },
      { kind: 'alloc', id: 'alloc_1' as AllocId },
      { kind: 'allocStatus', id: 'alloc_1' as AllocId },
    ]);
    assert.equal(await state.getJob('default', 'web'), undefined);
    assert.deepEqual(await state.listJobVersions('default', 'web'), []);
    assert.equal(await state.getAlloc('alloc_1' as AllocId), undefined);
    assert.equal(await state.getAllocStatus('alloc_1' as AllocId), undefined);
  });
});
