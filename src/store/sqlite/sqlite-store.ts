import { closeSync, fstatSync, fsync, fsyncSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ConflictError, KaruError, NotFoundError, UnavailableError } from '../../core/errors.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Disposable } from '../../lib/disposable.js';
import {
  CompactedError,
  type Compare,
  type KeyValue,
  type LeaseId,
  type ListResult,
  type PutOptions,
  type Store,
  type TxnOp,
  type TxnRequest,
  type TxnResult,
  type WatchEvent,
} from '../store.js';
import { decodeEvents, encodeEvents } from './change-log.js';
import { Checkpointer } from './checkpointer.js';
import { prefixEnd } from './key-range.js';
import { upgradeSchema } from './schema.js';
import { WatchHub } from './watch-hub.js';

export interface SqliteStoreOptions {
  /** Database file, or ':memory:' (tests). Created when missing. */
  path: string;
  /** Decides lease expiry. Default: the system clock. */
  clock?: Clock;
  /**
   * 'full' (default) fsyncs the WAL on every commit, so an acknowledged write survives a
   * power cut (ARCHITECTURE invariant 7). 'normal' survives a process crash only; for
   * benchmarks and throwaway dev clusters.
   */
  synchronous?: 'full' | 'normal';
  /**
   * With 'full' on a file: commit each write at once without an fsync, and acknowledge it
   * (resolve the call, hand it to watchers) only after one fsync of the WAL covers it, so
   * writes arriving while an fsync is under way share the next one. Default true; false
   * fsyncs inside every commit (SQLite's synchronous=FULL), as before group commit.
   */
  groupCommit?: boolean;
  /**
   * With group commit: least time between two checkpoints, which a worker thread runs on
   * its own connection instead of SQLite running them inside a COMMIT on the event loop.
   * Default 500 ms.
   */
  checkpointIntervalMs?: number;
  /**
   * With group commit: a WAL grown past this (the thread's checkpoints could not catch up
   * with a steady stream of writes, so SQLite never got to rewrite it from its start) is
   * checkpointed and restarted on the store's connection between two groups. Default 64 MiB.
   */
  walLimitBytes?: number;
}

/** Opens (creating if needed) a SQLite-backed Store. */
export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(opts);
}

interface KvRow {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
  lease: string | null;
}

/** Collects the changes of one write transaction; they all share `revision`. */
interface Batch {
  revision: number;
  events: WatchEvent[];
}

/** A write committed to the WAL but not yet fsynced: not acknowledged, not shown to watchers. */
interface Unsynced {
  revision: number;
  events: WatchEvent[];
}

/** Every statement the store runs, prepared once. */
function prepareStatements(db: Database.Database) {
  const cols = 'key, value, create_revision, mod_revision, version, lease';
  return {
    begin: db.prepare('BEGIN'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    // A write inside a group's transaction: prepared once (db.transaction() builds its wrappers on every call).
    savepoint: db.prepare('SAVEPOINT write'),
    release: db.prepare('RELEASE write'),
    rollbackTo: db.prepare('ROLLBACK TO write'),
    getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE name = ?'),
    setMeta: db.prepare<[number, string]>('UPDATE meta SET value = ? WHERE name = ?'),
    get: db.prepare<[string], KvRow>(`SELECT ${cols} FROM kv WHERE key = ?`),
    // One lower bound each: given `key >= @start AND key > @after`, SQLite seeks to @start
    // and steps over every row up to @after, which made paging through a million keys
    // quadratic (a cold load of 1M allocations spent 40 s reading rows).
    listRange: db.prepare<{ start: string; end: string; limit: number }, KvRow>(`SELECT ${cols} FROM kv WHERE key >= @start AND key < @end ORDER BY key LIMIT @limit`),
    listRangeAfter: db.prepare<{ after: string; end: string; limit: number }, KvRow>(`SELECT ${cols} FROM kv WHERE key > @after AND key < @end ORDER BY key LIMIT @limit`),
    listFrom: db.prepare<{ start: string; limit: number }, KvRow>(`SELECT ${cols} FROM kv WHERE key >= @start ORDER BY key LIMIT @limit`),
    listFromAfter: db.prepare<{ after: string; limit: number }, KvRow>(`SELECT ${cols} FROM kv WHERE key > @after ORDER BY key LIMIT @limit`),
    upsert: db.prepare<[string, string, number, number, number, string | null]>(
      `INSERT OR REPLACE INTO kv (${cols}) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    delete: db.prepare<[string]>('DELETE FROM kv WHERE key = ?'),
    byLease: db.prepare<[string], KvRow>(`SELECT ${cols} FROM kv WHERE lease = ? ORDER BY key`),
    appendLog: db.prepare<[number, string]>('INSERT INTO log (revision, events) VALUES (?, ?)'),
    logRange: db.prepare<[number, number], { revision: number; events: string }>('SELECT revision, events FROM log WHERE revision > ? AND revision <= ? ORDER BY revision'),
    compact: db.prepare<[number]>('DELETE FROM log WHERE revision < ?'),
    grantLease: db.prepare<[string, number, number]>('INSERT INTO leases (id, ttl_ms, expires_at) VALUES (?, ?, ?)'),
    leaseExists: db.prepare<[string], { id: string }>('SELECT id FROM leases WHERE id = ?'),
    keepAlive: db.prepare<[number, string]>('UPDATE leases SET expires_at = ? + ttl_ms WHERE id = ?'),
    dropLease: db.prepare<[string]>('DELETE FROM leases WHERE id = ?'),
    renewAllLeases: db.prepare<[number]>('UPDATE leases SET expires_at = MAX(expires_at, ? + ttl_ms)'),
    nextExpiry: db.prepare<[], { at: number | null }>('SELECT MIN(expires_at) AS at FROM leases'),
    dueLeases: db.prepare<[number], { id: string }>('SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at, id'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

const DEFAULT_WAL_LIMIT = 64 * 1024 * 1024;

/** Longest delay a Node timer accepts; later expiries are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The Store on one SQLite file (better-sqlite3, WAL). The embedded default: one server,
 * no quorum; etcd is the HA alternative behind the same interface and suite.
 *
 * Every write is one SQLite transaction that bumps the revision by one when it changed
 * anything. better-sqlite3 is synchronous, so a write — commit and hand-off to watchers —
 * happens within one tick: that is what makes watch replay gap-free (see WatchHub).
 */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly hub = new WatchHub();
  /** Revision of the last commit (durable or not: what reads and compares see). */
  private rev: number;
  /** Revision of the last acknowledged write: fsynced, and handed to watchers. */
  private acked: number;
  private compacted: number;
  /** Group commit: the WAL file, fsynced once per group of writes. Undefined: no group commit. */
  private walFd: number | undefined;
  private unsynced: Unsynced[] = [];
  private ackWaiters: { revision: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  /** The fsync under way, if any; writes arriving meanwhile wait for the next one. */
  private syncing: Promise<void> | undefined;
  /** Set when a group's commit failed: every later call fails with it. */
  private broken: UnavailableError | undefined;
  /** fsyncs done by group commit (tests and benchmarks read it). */
  syncCount = 0;
  /** With group commit: runs the checkpoints off the event loop. */
  private readonly checkpointer: Checkpointer | undefined;
  private readonly walLimitBytes: number;
  private readonly pageSize: number;
  /** The WAL file is past its limit: decide once the thread has checkpointed more than this many times. */
  private restartAfter: number | undefined;
  private closed = false;
  private timerAt: number | undefined;
  private cancelTimer: (() => void) | undefined;
  private readonly s: Statements;

  constructor(opts: SqliteStoreOptions) {
    this.clock = opts.clock ?? systemClock;
    this.db = new Database(opts.path);
    const group = opts.synchronous !== 'normal' && opts.groupCommit !== false && opts.path !== ':memory:' && opts.path !== '';
    try {
      this.db.pragma('journal_mode = WAL');
      // Group commit: SQLite writes the WAL without syncing (NORMAL still syncs around
      // checkpoints), and the store fsyncs the WAL itself before acknowledging.
      this.db.pragma(`synchronous = ${opts.synchronous === 'normal' || group ? 'NORMAL' : 'FULL'}`);
      this.db.pragma('busy_timeout = 5000');
      upgradeSchema(this.db);
      if (group) {
        this.walFd = openSync(`${opts.path}-wal`, 'r');
        this.db.pragma('wal_autocheckpoint = 0');
        // A WAL that outgrew the limit shrinks back to it when SQLite next rewrites it from the start.
        this.db.pragma(`journal_size_limit = ${opts.walLimitBytes ?? DEFAULT_WAL_LIMIT}`);
      }
    } catch (err) {
      this.db.close();
      throw new UnavailableError(`cannot open store at ${opts.path}: ${(err as Error).message}`, err);
    }
    this.walLimitBytes = opts.walLimitBytes ?? DEFAULT_WAL_LIMIT;
    this.pageSize = this.db.pragma('page_size', { simple: true }) as number;
    if (group) {
      this.checkpointer = new Checkpointer({
        path: opts.path,
        intervalMs: opts.checkpointIntervalMs ?? 500,
        // Without the thread, SQLite checkpoints inside COMMIT again, as it does by default.
        onFailure: () => {
          if (!this.closed) this.db.pragma('wal_autocheckpoint = 1000');
        },
      });
    }
    this.s = prepareStatements(this.db);
    this.rev = this.meta('revision');
    this.acked = this.rev;
    this.compacted = this.meta('compacted');
    // Like etcd after a leader change: the server was away, so holders could not keep
    // their leases alive. Give every lease a full TTL from now instead of expiring them all.
    this.s.renewAllLeases.run(this.clock.now());
    this.armExpiryTimer();
  }

  async get(key: string): Promise<KeyValue | undefined> {
    this.ensureOpen();
    const row = this.s.get.get(key);
    return row && toKeyValue(row);
  }

  async list(prefix: string, opts: { limit?: number; startAfter?: string } = {}): Promise<ListResult> {
    this.ensureOpen();
    const end = prefixEnd(prefix);
    const limit = opts.limit ?? -1;
    const rows = this.listRows(prefix, end, opts.startAfter, limit);
    return { items: rows.map(toKeyValue), revision: this.rev };
  }

  async put(key: string, value: string, opts: PutOptions = {}): Promise<number> {
    checkKey(key);
    const revision = this.write((b) => {
      if (opts.expectedModRevision !== undefined) this.expectModRevision(key, opts.expectedModRevision);
      this.putOp(b, key, value, opts.lease);
    });
    await this.acknowledged(revision);
    return revision;
  }

  async delete(key: string, opts: { expectedModRevision?: number } = {}): Promise<boolean> {
    checkKey(key);
    let existed = false;
    const revision = this.write((b) => {
      if (opts.expectedModRevision !== undefined) this.expectModRevision(key, opts.expectedModRevision);
      existed = this.deleteOp(b, key);
    });
    await this.acknowledged(revision);
    return existed;
  }

  async txn(req: TxnRequest): Promise<TxnResult> {
    for (const op of [...req.success, ...(req.failure ?? [])]) if (op.type !== 'deletePrefix') checkKey(op.key);
    let succeeded = false;
    const revision = this.write((b) => {
      succeeded = req.compares.every((c) => this.holds(c));
      for (const op of succeeded ? req.success : (req.failure ?? [])) this.applyOp(b, op);
    });
    await this.acknowledged(revision);
    return { succeeded, revision };
  }

  /** The revision of the last acknowledged write (with group commit, unsynced ones are not counted). */
  async revision(): Promise<number> {
    this.ensureOpen();
    return this.acked;
  }

  watch(prefix: string, fromRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Disposable {
    this.ensureOpen();
    // compact(C) keeps revisions >= C, so a watch needs fromRevision + 1 >= C.
    if (fromRevision + 1 < this.compacted) return this.hub.failed(new CompactedError(this.compacted), onError);
    // Only acknowledged revisions: later ones reach the hub when their fsync completes.
    const replay: WatchEvent[][] = [];
    for (const row of this.s.logRange.all(fromRevision, this.acked)) {
      const events = decodeEvents(row.revision, row.events, prefix);
      if (events.length > 0) replay.push(events);
    }
    return this.hub.add(prefix, replay, onEvents, onError);
  }

  async grantLease(ttlMs: number): Promise<LeaseId> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new KaruError('INVALID', `lease TTL must be a positive number of milliseconds, got ${ttlMs}`, { retryable: false });
    this.ensureOpen();
    const id = this.db.transaction(() => {
      const seq = this.meta('lease_seq') + 1;
      this.s.setMeta.run(seq, 'lease_seq');
      const leaseId = `lease_${seq.toString(16)}`;
      this.s.grantLease.run(leaseId, Math.ceil(ttlMs), this.clock.now() + Math.ceil(ttlMs));
      return leaseId;
    })();
    this.armExpiryTimer();
    return id;
  }

  async keepAlive(lease: LeaseId): Promise<void> {
    this.ensureOpen();
    if (this.s.keepAlive.run(this.clock.now(), lease).changes === 0) throw new NotFoundError('lease', lease);
    this.armExpiryTimer();
  }

  /** Deletes the lease's keys (one revision); revoking an unknown or expired lease is a no-op. */
  async revokeLease(lease: LeaseId): Promise<void> {
    this.ensureOpen();
    const revision = this.revoke(lease);
    this.armExpiryTimer();
    await this.acknowledged(revision);
  }

  async compact(revision: number): Promise<void> {
    this.ensureOpen();
    if (revision > this.rev) throw new KaruError('INVALID', `cannot compact to revision ${revision}: the store is at ${this.rev}`, { retryable: false });
    if (revision <= this.compacted) return;
    this.db.transaction(() => {
      this.s.compact.run(revision);
      this.s.setMeta.run(revision, 'compacted');
    })();
    this.compacted = revision;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    // Whatever was committed gets its fsync before the file closes; callers still waiting are acknowledged.
    await this.syncing;
    if (this.walFd !== undefined) {
      const commitFailed = this.commitOpen();
      if (commitFailed !== undefined) this.ack(this.unsynced.splice(0), false, commitFailed);
      if (this.unsynced.length > 0) {
        let failed: unknown;
        try {
          fsyncSync(this.walFd);
        } catch (err) {
          failed = err;
        }
        this.ack(this.unsynced.splice(0), false, failed);
      }
      closeSync(this.walFd);
      // Before the store's connection closes: the last one to close checkpoints and removes the WAL.
      await this.checkpointer?.close();
      this.walFd = undefined;
    }
    this.hub.closeAll();
    this.db.close();
  }

  // ---- writes ----

  /**
   * Runs `fn` in one SQLite transaction. If it changed anything, the revision goes up by
   * exactly one and, after the commit, the changes go to the watchers as one batch.
   * Returns the store revision after the write.
   */
  private write(fn: (b: Batch) => void): number {
    this.ensureOpen();
    const b: Batch = { revision: this.rev + 1, events: [] };
    if (this.walFd !== undefined && !this.db.inTransaction) {
      // Group commit: the writes of this turn of the event loop share one SQLite
      // transaction (each its own savepoint, so a failing one undoes only itself), one
      // set of WAL pages and one fsync. syncLoop commits it on the next turn.
      this.s.begin.run();
      this.syncing ??= this.syncLoop();
    }
    // Inside a group's transaction each write is a savepoint; alone, its own transaction.
    const alone = !this.db.inTransaction;
    (alone ? this.s.begin : this.s.savepoint).run();
    try {
      fn(b);
      if (b.events.length > 0) {
        this.s.appendLog.run(b.revision, encodeEvents(b.events));
        this.s.setMeta.run(b.revision, 'revision');
      }
      (alone ? this.s.commit : this.s.release).run();
    } catch (err) {
      this.undo(alone, err);
      throw err;
    }
    if (b.events.length === 0) return this.rev;
    this.rev = b.revision;
    if (this.walFd === undefined) {
      this.acked = b.revision;
      this.hub.publish(b.events);
    } else {
      this.unsynced.push({ revision: b.revision, events: b.events });
      this.syncing ??= this.syncLoop();
    }
    return this.rev;
  }

  /**
   * Undoes a failed write. Should SQLite have rolled back the whole group's transaction
   * itself (some I/O errors do), the group's earlier writes are gone while their revisions
   * were handed out: as when a COMMIT fails, their callers get UNAVAILABLE and the store
   * refuses further calls.
   */
  private undo(alone: boolean, err: unknown): void {
    if (!this.db.inTransaction) {
      if (alone || this.unsynced.length === 0) return;
      this.broken = new UnavailableError(`the store lost its uncommitted writes and must be reopened: ${(err as Error).message}`, err);
      this.ack(this.unsynced.splice(0), false, err);
      return;
    }
    if (alone) {
      this.s.rollback.run();
      return;
    }
    this.s.rollbackTo.run();
    this.s.release.run();
  }

  /**
   * Resolves once `revision` is durable and visible to watchers. A write that changed
   * nothing returns the current revision, which may still be unsynced: it waits too, so a
   * caller never acts on a state that a crash could take back.
   */
  private acknowledged(revision: number): Promise<void> | undefined {
    if (revision <= this.acked) return undefined;
    return new Promise((resolve, reject) => this.ackWaiters.push({ revision, resolve, reject }));
  }

  /**
   * Group commit: fsync the WAL for everything committed so far, then acknowledge it (in
   * revision order: watchers first, then callers); repeat while writes arrived meanwhile.
   * Starts on the next turn of the event loop, so writes made in the same tick share it.
   */
  private async syncLoop(): Promise<void> {
    for (;;) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.walFd === undefined) break;
      const commitFailed = this.commitOpen();
      if (commitFailed === undefined) this.boundWal();
      if (this.unsynced.length === 0) break;
      const group = this.unsynced.splice(0);
      if (commitFailed !== undefined) {
        this.ack(group, false, commitFailed);
        continue;
      }
      const fd = this.walFd;
      let failed: unknown;
      await new Promise<void>((resolve) =>
        fsync(fd, (err) => {
          failed = err ?? undefined;
          resolve();
        }),
      );
      this.syncCount++;
      this.ack(group, true, failed);
      this.checkpointer?.request();
    }
    this.syncing = undefined;
  }

  /**
   * Commits the shared SQLite transaction, if one is open. Should that fail (disk full, I/O
   * error), SQLite rolled everything in it back while this process already counted its
   * revisions: the store can no longer tell what it holds, so it refuses further calls.
   */
  private commitOpen(): unknown {
    if (!this.db.inTransaction) return undefined;
    try {
      this.s.commit.run();
      return undefined;
    } catch (err) {
      this.broken = new UnavailableError(`the store could not commit its writes and must be reopened: ${(err as Error).message}`, err);
      try {
        this.db.exec('ROLLBACK');
      } catch {
        // already rolled back
      }
      return err;
    }
  }

  /**
   * Keeps the WAL from growing without end: SQLite rewrites it from its start only when a
   * checkpoint has copied all of it before the next write begins, which a steady stream of
   * groups may never allow. Once the file is past walLimitBytes (journal_size_limit brings
   * it back to that size whenever SQLite rewrites it), the thread checkpoints at once; if
   * the WAL still holds more than the limit then, the store's connection copies what was
   * committed meanwhile (~10–40 ms between two groups, no transaction open) and restarts it.
   */
  private boundWal(): void {
    const cp = this.checkpointer;
    if (this.walFd === undefined || !cp || cp.failed || cp.busy || this.db.inTransaction) return;
    if (this.restartAfter === undefined) {
      if (fstatSync(this.walFd).size <= this.walLimitBytes) return;
      this.restartAfter = cp.count;
      cp.request(Number.POSITIVE_INFINITY);
    } else if (cp.count > this.restartAfter) {
      this.restartAfter = undefined;
      if (cp.walFrames * this.pageSize > this.walLimitBytes) this.db.pragma('wal_checkpoint(RESTART)');
    }
  }

  /**
   * Hands a synced group to watchers and callers. When the fsync failed, the writes are
   * in SQLite all the same (watchers must follow what reads see), but their callers get
   * UNAVAILABLE: the store cannot promise they survive a power cut.
   */
  private ack(group: Unsynced[], publish: boolean, failed?: unknown): void {
    if (group.length === 0) return;
    for (const u of group) if (publish && !this.closed) this.hub.publish(u.events);
    this.acked = group[group.length - 1]!.revision;
    if (this.ackWaiters.length === 0) return;
    const due = this.ackWaiters.filter((w) => w.revision <= this.acked);
    this.ackWaiters = this.ackWaiters.filter((w) => w.revision > this.acked);
    for (const w of due) {
      if (failed === undefined) w.resolve();
      else w.reject(new UnavailableError(`the store could not sync its log: ${(failed as Error).message}`, failed));
    }
  }

  private applyOp(b: Batch, op: TxnOp): void {
    switch (op.type) {
      case 'put':
        this.putOp(b, op.key, op.value, op.lease);
        return;
      case 'delete':
        this.deleteOp(b, op.key);
        return;
      case 'deletePrefix':
        this.deletePrefixOp(b, op.prefix);
        return;
    }
  }

  private putOp(b: Batch, key: string, value: string, lease: LeaseId | undefined): void {
    if (lease !== undefined && !this.s.leaseExists.get(lease)) throw new NotFoundError('lease', lease);
    const old = this.s.get.get(key);
    this.s.upsert.run(key, value, old ? old.create_revision : b.revision, b.revision, old ? old.version + 1 : 1, lease ?? null);
    b.events.push(old ? { type: 'put', key, value, revision: b.revision, prevValue: old.value } : { type: 'put', key, value, revision: b.revision });
  }

  private deleteOp(b: Batch, key: string): boolean {
    const old = this.s.get.get(key);
    if (!old) return false;
    this.removeRow(b, old);
    return true;
  }

  private deletePrefixOp(b: Batch, prefix: string): void {
    const end = prefixEnd(prefix);
    const rows = this.listRows(prefix, end, undefined, -1);
    for (const row of rows) this.removeRow(b, row);
  }

  private removeRow(b: Batch, row: KvRow): void {
    this.s.delete.run(row.key);
    b.events.push({ type: 'delete', key: row.key, revision: b.revision, prevValue: row.value });
  }

  private expectModRevision(key: string, expected: number): void {
    const actual = this.s.get.get(key)?.mod_revision ?? 0;
    if (actual === expected) return;
    const what = expected === 0 ? 'must not exist' : `expected modRevision ${expected}`;
    throw new ConflictError(`${key} was changed by another writer (${what}, found ${actual === 0 ? 'none' : `modRevision ${actual}`}); re-read and retry`, {
      key,
      expectedModRevision: expected,
      modRevision: actual,
    });
  }

  /** etcd's compare rules: a missing key has modRevision 0, and never matches a value compare. */
  private holds(c: Compare): boolean {
    const row = this.s.get.get(c.key);
    switch (c.target) {
      case 'exists':
        return (row !== undefined) === c.value;
      case 'value':
        if (!row) return false;
        return c.op === '=' ? row.value === c.value : row.value !== c.value;
      case 'modRevision': {
        const m = row?.mod_revision ?? 0;
        switch (c.op) {
          case '=':
            return m === c.value;
          case '!=':
            return m !== c.value;
          case '<':
            return m < c.value;
          case '>':
            return m > c.value;
        }
      }
    }
  }

  // ---- leases ----

  private revoke(lease: LeaseId): number {
    return this.write((b) => {
      for (const row of this.s.byLease.all(lease)) this.removeRow(b, row);
      this.s.dropLease.run(lease);
    });
  }

  /** One timer, set for the earliest expiry; re-armed whenever leases change. */
  private armExpiryTimer(): void {
    if (this.closed) return;
    const at = this.s.nextExpiry.get()?.at ?? undefined;
    if (at === this.timerAt && this.cancelTimer) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.clock.now()));
    this.cancelTimer = this.clock.setTimer(delay, () => {
      this.cancelTimer = undefined;
      this.timerAt = undefined;
      this.expireDue();
    });
  }

  /** Each expired lease is revoked in its own transaction (one revision per lease with keys). */
  private expireDue(): void {
    if (this.closed) return;
    for (const { id } of this.s.dueLeases.all(this.clock.now())) this.revoke(id);
    this.armExpiryTimer();
  }

  // ---- helpers ----

  /** Rows with `prefix` (up to `end`), after `startAfter` when it is past the prefix's start, in key order. */
  private listRows(prefix: string, end: string | undefined, startAfter: string | undefined, limit: number): KvRow[] {
    const after = startAfter !== undefined && startAfter >= prefix ? startAfter : undefined;
    if (end === undefined) return after === undefined ? this.s.listFrom.all({ start: prefix, limit }) : this.s.listFromAfter.all({ after, limit });
    return after === undefined ? this.s.listRange.all({ start: prefix, end, limit }) : this.s.listRangeAfter.all({ after, end, limit });
  }

  private meta(name: string): number {
    return this.s.getMeta.get(name)?.value ?? 0;
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('the store is closed');
    if (this.broken) throw this.broken;
  }
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '') throw new KaruError('INVALID', 'store keys must be non-empty strings', { retryable: false });
}

function toKeyValue(row: KvRow): KeyValue {
  const kv: KeyValue = { key: row.key, value: row.value, createRevision: row.create_revision, modRevision: row.mod_revision, version: row.version };
  if (row.lease !== null) kv.lease = row.lease;
  return kv;
}

