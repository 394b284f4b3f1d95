import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { FakeClock } from '../../lib/clock.js';
import { runStoreSuite } from '../store.suite.js';
import { openSqliteStore, type SqliteStore } from './sqlite-store.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'karu-store-'));
}

runStoreSuite('sqlite :memory:', async () => {
  const clock = new FakeClock();
  const store = openSqliteStore({ path: ':memory:', clock });
  return { store, clock, cleanup: () => store.close() };
});

runStoreSuite('sqlite file', async () => {
  const dir = tempDir();
  const path = join(dir, 'karu.db');
  const clock = new FakeClock();
  let current: SqliteStore = openSqliteStore({ path, clock });
  return {
    store: current,
    clock,
    reopen: async () => {
      await current.close();
      current = openSqliteStore({ path, clock });
      return current;
    },
    cleanup: async () => {
      await current.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteStore specifics', () => {
  it('runs in WAL mode, fsyncing the WAL itself (group commit) by default, or SQLite synchronous=FULL without it', async () => {
    const dir = tempDir();
    const path = join(dir, 'karu.db');
    try {
      const store = openSqliteStore({ path });
      await store.put('/a', '1');
      await store.close();
      const db = new Database(path, { readonly: true });
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      db.close();
      // synchronous is per connection: check the one the store opens.
      type Probe = { db: Database.Database; walFd: number | undefined; close(): Promise<void> };
      const probe = openSqliteStore({ path }) as unknown as Probe;
      assert.equal(probe.db.pragma('synchronous', { simple: true }), 1, 'NORMAL: the store syncs the WAL before acknowledging');
      assert.equal(typeof probe.walFd, 'number');
      await probe.close();
      const full = openSqliteStore({ path, groupCommit: false }) as unknown as Probe;
      assert.equal(full.db.pragma('synchronous', { simple: true }), 2);
      assert.equal(full.walFd, undefined);
      await full.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('group commit: concurrent writes share fsyncs, and none is shown or acknowledged before its fsync', async () => {
    const dir = tempDir();
    const path = join(dir, 'karu.db');
    try {
      const store = openSqliteStore({ path });
      const seen: number[] = [];
      store.watch('/', await store.revision(), (events) => seen.push(...events.map((e) => e.revision)));
      const writes = Array.from({ length: 200 }, (_, i) => store.put(`/g/${i}`, String(i)));
      // Committed (reads see them) but not acknowledged: no watcher has them, revision() does not count them.
      assert.equal((await store.get('/g/199'))?.value, '199');
      assert.equal(await store.revision(), 0);
      assert.deepEqual(seen, []);
      const revisions = await Promise.all(writes);
      assert.deepEqual(revisions, Array.from({ length: 200 }, (_, i) => i + 1));
      assert.equal(await store.revision(), 200);
      assert.deepEqual(seen, revisions, 'every revision once, in order');
      assert.ok(store.syncCount < 10, `${store.syncCount} fsyncs for 200 writes`);

      // A write not awaited before close is still synced; a second process sees every acknowledged one.
      const last = store.put('/g/last', 'x');
      await store.close();
      assert.equal(await last, 201);
      const again = openSqliteStore({ path });
      assert.equal((await again.get('/g/last'))?.value, 'x');
      assert.equal(await again.revision(), 201);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an acknowledged write is in the file even if the process dies without closing the store', async () => {
    const dir = tempDir();
    const path = join(dir, 'karu.db');
    try {
      const store = openSqliteStore({ path });
      await store.put('/crash/a', '1');
      // Another connection reads the database as a restarted server would (the first is never closed).
      const db = new Database(path, { readonly: true });
      assert.equal((db.prepare('SELECT value FROM kv WHERE key = ?').get('/crash/a') as { value: string }).value, '1');
      db.close();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops its lease timer and refuses calls once closed', async () => {
    const clock = new FakeClock();
    const store = openSqliteStore({ path: ':memory:', clock });
    await store.grantLease(1_000);
    assert.equal(clock.pendingTimers, 1, 'one timer, however many leases');
    await store.grantLease(2_000);
    assert.equal(clock.pendingTimers, 1);
    await store.close();
    assert.equal(clock.pendingTimers, 0);
    await assert.rejects(store.get('/a'), (e: unknown) => (e as { code?: string }).code === 'UNAVAILABLE');
    await store.close();
  });

  it('gives leases a full TTL after a reopen instead of expiring them at once', async () => {
    const dir = tempDir();
    const path = join(dir, 'karu.db');
    const clock = new FakeClock();
    try {
      let store = openSqliteStore({ path, clock });
      const lease = await store.grantLease(10_000);
      await store.put('/a', '1', { lease });
      await store.close();
      clock.advance(60_000); // the server was down for a minute
      store = openSqliteStore({ path, clock });
      assert.equal((await store.get('/a'))?.value, '1');
      clock.advance(9_000);
      assert.equal((await store.get('/a'))?.value, '1');
      clock.advance(2_000);
      assert.equal(await store.get('/a'), undefined);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rolls back a transaction that fails half-way (unknown lease in a later op)', async () => {
    const store = openSqliteStore({ path: ':memory:', clock: new FakeClock() });
    const r = await store.put('/a', '1');
    await assert.rejects(store.txn({ compares: [], success: [{ type: 'put', key: '/a', value: '2' }, { type: 'put', key: '/b', value: 'x', lease: 'nope' }] }));
    assert.equal((await store.get('/a'))?.value, '1');
    assert.equal(await store.revision(), r);
    assert.equal(await store.put('/c', '3'), r + 1, 'the failed write used no revision');
    await store.close();
  });

  it('orders keys by UTF-8 bytes and bounds prefixes exactly', async () => {
    const store = openSqliteStore({ path: ':memory:', clock: new FakeClock() });
    for (const k of ['/x/\u{10FFFF}', '/x/\uFFFF', '/x/a', '/x0', '/y']) await store.put(k, 'v');
    assert.deepEqual((await store.list('/x/')).items.map((i) => i.key), ['/x/a', '/x/\uFFFF', '/x/\u{10FFFF}']);
    assert.equal((await store.list('')).items.length, 5);
    await store.close();
  });
});
