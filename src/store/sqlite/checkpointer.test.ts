import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Checkpointer } from './checkpointer.js';

/** A WAL-mode database that never checkpoints on its own, with `rows` rows in its WAL. */
function walDatabase(dir: string, rows: number): { path: string; db: Database.Database } {
  const path = join(dir, 'k.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (v TEXT)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run('x'.repeat(500));
  })();
  return { path, db };
}

describe('Checkpointer', () => {
  it('copies the WAL into the database file on its thread, at most once per interval', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-ckpt-'));
    const { path, db } = walDatabase(dir, 1000);
    const failures: Error[] = [];
    const cp = new Checkpointer({ path, intervalMs: 60_000, onFailure: (e) => failures.push(e) });
    try {
      cp.request();
      assert.equal(cp.busy, true);
      await cp.idle();
      assert.equal(cp.count, 1);
      assert.ok(cp.walFrames > 100, `${cp.walFrames} frames`);
      // Everything was copied: this connection's own checkpoint finds nothing left to do.
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
      assert.equal(r!.checkpointed, r!.log);
      cp.request();
      assert.equal(cp.busy, false, 'within the interval: dropped');
      cp.request(Number.POSITIVE_INFINITY);
      await cp.idle();
      assert.equal(cp.count, 2, 'unless forced');
      assert.deepEqual(failures, []);
    } finally {
      await cp.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends its thread when idle and starts another on the next request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-ckpt-'));
    const { path, db } = walDatabase(dir, 10);
    const cp = new Checkpointer({ path, intervalMs: 0, idleExitMs: 20, onFailure: (e) => assert.fail(e) });
    try {
      cp.request();
      await cp.idle();
      assert.equal(cp.threadAlive, true);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(cp.threadAlive, false);
      cp.request();
      await cp.idle();
      assert.equal(cp.count, 2);
    } finally {
      await cp.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failing thread once and refuses later requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-ckpt-'));
    const failures: Error[] = [];
    const cp = new Checkpointer({ path: join(dir, 'missing.db'), intervalMs: 0, onFailure: (e) => failures.push(e) });
    try {
      cp.request();
      await cp.idle();
      assert.equal(failures.length, 1);
      assert.match(failures[0]!.message, /checkpoint failed/);
      cp.request();
      assert.equal(cp.busy, false);
    } finally {
      await cp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
