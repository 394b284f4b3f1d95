import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { FakeClock } from '../../lib/clock.js';
import type { WatchEvent } from '../store.js';
import { runStoreSuite } from '../store.suite.js';
import { openSqliteStore, type SqliteStore } from './sqlite-store.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'karu-store-'));
}

/** Runs `fn` with a fresh directory (and `karu.db` in it as the store's path), removed afterwards whatever happens. */
async function inTempDir(fn: (dir: string, path: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    await fn(dir, join(dir, 'karu.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
    await inTempDir(async (dir, path) => {
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
    });
  });

  it('group commit: concurrent writes share fsyncs, and none is shown or acknowledged before its fsync', async () => {
    await inTempDir(async (dir, path) => {
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
    });
  });

  it('an acknowledged write is in the file even if the process dies without closing the store', async () => {
    await inTempDir(async (dir, path) => {
      const store = openSqliteStore({ path });
      await store.put('/crash/a', '1');
      // Another connection reads the database as a restarted server would (the first is never closed).
      const db = new Database(path, { readonly: true });
      assert.equal((db.prepare('SELECT value FROM kv WHERE key = ?').get('/crash/a') as { value: string }).value, '1');
      db.close();
      await store.close();
    });
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

/** Version 1 of the layout: the change log one row per key. */
const SCHEMA_V1 = `
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL, version INTEGER NOT NULL, lease TEXT) WITHOUT ROWID;
CREATE INDEX kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;
CREATE TABLE changes (revision INTEGER NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL CHECK (type IN ('put', 'delete')), value TEXT, prev_value TEXT, PRIMARY KEY (revision, seq)) WITHOUT ROWID;
CREATE TABLE leases (id TEXT PRIMARY KEY, ttl_ms INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX leases_by_expiry ON leases (expires_at);
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO meta (name, value) VALUES ('schema', 1), ('revision', 4), ('compacted', 2), ('lease_seq', 0);
INSERT INTO kv VALUES ('/m/a', '3', 2, 4, 2, NULL), ('/m/c', 'c', 4, 4, 1, NULL);
INSERT INTO changes VALUES
  (2, 0, '/m/a', 'put', '1', NULL), (2, 1, '/m/b', 'put', 'b', NULL),
  (3, 0, '/m/b', 'delete', NULL, 'b'),
  (4, 0, '/m/a', 'put', '3', '1'), (4, 1, '/m/c', 'put', 'c', NULL);
`;

function watchUntil(store: SqliteStore, prefix: string, from: number, revision: number): Promise<WatchEvent[][]> {
  const batches: WatchEvent[][] = [];
  return new Promise((resolve, reject) => {
    const w = store.watch(
      prefix,
      from,
      (events) => {
        batches.push(events);
        if (events[0]!.revision >= revision) {
          w.dispose();
          resolve(batches);
        }
      },
      reject,
    );
  });
}

describe('SqliteStore file layout and checkpoints', () => {
  it('opens a version 1 file: its per-key change log becomes one row per revision, history and all', async () => {
    await inTempDir(async (dir, path) => {
      const old = new Database(path);
      old.pragma('journal_mode = WAL');
      old.exec(SCHEMA_V1);
      old.close();

      const store = openSqliteStore({ path });
      assert.equal(await store.revision(), 4);
      assert.deepEqual((await store.list('/m/')).items.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`), ['/m/a=3@4', '/m/c=c@4']);
      const batches = await watchUntil(store, '/m/', 1, 4);
      assert.deepEqual(batches, [
        [{ type: 'put', key: '/m/a', value: '1', revision: 2 }, { type: 'put', key: '/m/b', value: 'b', revision: 2 }],
        [{ type: 'delete', key: '/m/b', revision: 3, prevValue: 'b' }],
        [{ type: 'put', key: '/m/a', value: '3', revision: 4, prevValue: '1' }, { type: 'put', key: '/m/c', value: 'c', revision: 4 }],
      ]);
      assert.equal(await store.put('/m/d', 'd'), 5);
      await assert.rejects(
        new Promise((resolve, reject) => store.watch('/m/', 0, resolve, reject)),
        (e: unknown) => e instanceof Error && e.name === 'CompactedError',
        'the compaction point carries over',
      );
      await store.close();

      const db = new Database(path, { readonly: true });
      assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'changes'").get(), undefined);
      assert.equal((db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: number }).value, 2);
      db.close();
    });
  });

  it('refuses a file written by a newer schema', async () => {
    await inTempDir(async (dir, path) => {
      await openSqliteStore({ path }).close();
      const db = new Database(path);
      db.prepare("UPDATE meta SET value = 99 WHERE name = 'schema'").run();
      db.close();
      assert.throws(() => openSqliteStore({ path }), (e: unknown) => (e as { code?: string }).code === 'UNAVAILABLE' && /newer/.test((e as Error).message));
    });
  });

  it('checkpoints on its own thread, not inside COMMIT: acknowledged writes reach the database file itself', async () => {
    await inTempDir(async (dir, path) => {
      type Probe = Pick<SqliteStore, 'txn' | 'close'> & { db: Database.Database; checkpointer: { count: number; idle(): Promise<void> } };
      const store = openSqliteStore({ path, checkpointIntervalMs: 0 }) as unknown as Probe;
      assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'SQLite does not checkpoint inside COMMIT');
      await store.txn({ compares: [], success: Array.from({ length: 500 }, (_, i) => ({ type: 'put' as const, key: `/c/${i}`, value: 'v'.repeat(300) })) });
      await store.checkpointer.idle();
      assert.ok(store.checkpointer.count >= 1);
      // The database file alone (no WAL beside it) has the write: the thread copied it there.
      const copy = join(dir, 'copy.db');
      copyFileSync(path, copy);
      const db = new Database(copy, { readonly: true });
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM kv').get() as { n: number }).n, 500);
      db.close();
      await store.close();
    });
  });

  it('keeps the WAL near its limit under a steady stream of groups', async () => {
    await inTempDir(async (dir, path) => {
      // The thread checkpoints once on its own, then only when the store asks (the WAL is past its limit).
      type Probe = Pick<SqliteStore, 'txn' | 'list' | 'close'> & { checkpointer: { idle(): Promise<void> } };
      const store = openSqliteStore({ path, checkpointIntervalMs: 1e9, walLimitBytes: 256 * 1024 }) as unknown as Probe;
      await store.txn({ compares: [], success: [{ type: 'put', key: '/w/start', value: 'x' }] });
      await store.checkpointer.idle(); // the thread is up
      let max = 0;
      for (let g = 0; g < 60; g++) {
        await store.txn({ compares: [], success: Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `/w/${g}/${i}`, value: 'v'.repeat(300) })) });
        max = Math.max(max, statSync(`${path}-wal`).size);
      }
      // 60 groups of ~110 KB of pages each: 6.6 MB of WAL without the bound.
      assert.ok(max < 2 * 1024 * 1024, `WAL reached ${max} bytes`);
      assert.equal((await store.list('/w/')).items.length, 6001);
      await store.close();
    });
  });

  it('a write failing inside a group undoes only itself; the group commits and survives a reopen', async () => {
    await inTempDir(async (dir, path) => {
      const store = openSqliteStore({ path });
      // One tick, so one group: the middle one fails on its second op.
      const a = store.put('/f/a', '1');
      const bad = store.txn({ compares: [], success: [{ type: 'put', key: '/f/b', value: 'x' }, { type: 'put', key: '/f/c', value: 'x', lease: 'nope' }] });
      const d = store.put('/f/d', '2');
      await assert.rejects(bad);
      assert.deepEqual([await a, await d], [1, 2]);
      await store.close();
      const again = openSqliteStore({ path });
      assert.deepEqual((await again.list('/f/')).items.map((kv) => `${kv.key}@${kv.modRevision}`), ['/f/a@1', '/f/d@2']);
      assert.deepEqual((await watchUntil(again, '/f/', 0, 2)).map((b) => b.map((e) => e.key)), [['/f/a'], ['/f/d']]);
      await again.close();
    });
  });

  it('closed while a group is open and a checkpoint runs: every write is acknowledged and reopens', async () => {
    await inTempDir(async (dir, path) => {
      const store = openSqliteStore({ path, checkpointIntervalMs: 0 });
      await store.txn({ compares: [], success: Array.from({ length: 2000 }, (_, i) => ({ type: 'put' as const, key: `/x/${i}`, value: 'v'.repeat(300) })) });
      // The ack above asked the thread for a checkpoint; these writes open the next group.
      const pending = Array.from({ length: 50 }, (_, i) => store.put(`/y/${i}`, String(i)));
      await store.close();
      assert.equal((await Promise.all(pending)).at(-1), 51);
      assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close checkpointed the WAL away');
      const again = openSqliteStore({ path });
      assert.equal(await again.revision(), 51);
      assert.equal((await again.list('/y/')).items.length, 50);
      await again.close();
    });
  });

  it('keeps every acknowledged write when the process dies mid-stream without closing', async () => {
    const dir = tempDir();
    const path = join(dir, 'karu.db');
    const script = join(dir, 'writer.mts');
    try {
      // Writes until killed (or 3,000 groups), printing each acknowledged revision; checkpoints run meanwhile.
      writeFileSync(
        script,
        `import { openSqliteStore } from ${JSON.stringify(new URL('./sqlite-store.ts', import.meta.url).href)};
const store = openSqliteStore({ path: ${JSON.stringify(path)}, checkpointIntervalMs: 0, walLimitBytes: 512 * 1024 });
for (let g = 0; g < 3000; g++) {
  const { revision } = await store.txn({ compares: [], success: Array.from({ length: 50 }, (_, i) => ({ type: 'put', key: '/k/' + ((g * 50 + i) % 3000), value: String(g).padEnd(200, '.') })) });
  process.stdout.write(revision + '\\n');
}
`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let acked = 0;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdout.on('data', (chunk: Buffer) => {
          for (const line of chunk.toString().split('\n')) if (line !== '') acked = Math.max(acked, Number(line));
          if (acked >= 150) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
      assert.ok(acked >= 150, `the writer stopped at ${acked}`);
      const store = openSqliteStore({ path });
      const revision = await store.revision();
      assert.ok(revision >= acked, `reopened at ${revision}, ${acked} was acknowledged`);
      // Each acknowledged revision's value is there, and history replays without a gap.
      const batches = await watchUntil(store, '/k/', 0, revision);
      assert.deepEqual(batches.map((b) => b[0]!.revision), Array.from({ length: revision }, (_, i) => i + 1));
      assert.equal((await store.get(`/k/${((acked - 1) * 50) % 3000}`))?.value, String(acked - 1).padEnd(200, '.'));
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
