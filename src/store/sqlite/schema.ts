import type Database from 'better-sqlite3';
import type { WatchEvent } from '../store.js';
import { encodeEvents } from './change-log.js';

/**
 * The SQLite layout of the store. One database file holds the current key–value map,
 * the change log that watches replay from, the leases and two counters.
 *
 * `log` holds one row per revision: every change of that write, encoded by change-log.ts
 * (one row instead of one per key: a 1,000-key plan appends one value). Rows older than
 * `meta.compacted` are gone (see compact()).
 *
 * Version 1 logged one row per key in `changes (revision, seq, key, type, value,
 * prev_value)`; upgradeSchema rewrites such a file's log on open.
 */
export const SCHEMA_VERSION = 2;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key             TEXT PRIMARY KEY,
  value           TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision    INTEGER NOT NULL,
  version         INTEGER NOT NULL,
  lease           TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_by_lease ON kv (lease) WHERE lease IS NOT NULL;

CREATE TABLE IF NOT EXISTS log (
  revision INTEGER PRIMARY KEY,
  events   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS leases (
  id         TEXT PRIMARY KEY,
  ttl_ms     INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_at);

CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES
  ('schema', ${SCHEMA_VERSION}), ('revision', 0), ('compacted', 0), ('lease_seq', 0);
`;

/**
 * Creates what is missing and brings an older file to SCHEMA_VERSION, in one transaction
 * (a crash half-way leaves the file as it was). Refuses a file from a newer Karu.
 */
export function upgradeSchema(db: Database.Database): void {
  db.transaction(() => {
    db.exec(SCHEMA);
    const version = (db.prepare("SELECT value FROM meta WHERE name = 'schema'").get() as { value: number }).value;
    if (version > SCHEMA_VERSION) throw new Error(`the file has store schema ${version}, newer than this Karu's (${SCHEMA_VERSION})`);
    if (version < 2) moveChangesToLog(db);
    db.prepare("UPDATE meta SET value = ? WHERE name = 'schema'").run(SCHEMA_VERSION);
  }).immediate();
}

interface ChangeRow {
  revision: number;
  key: string;
  type: 'put' | 'delete';
  value: string | null;
  prev_value: string | null;
}

/** Version 1 → 2: the per-key `changes` rows become one `log` row per revision. */
function moveChangesToLog(db: Database.Database): void {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'changes'").get();
  if (!exists) return;
  const insert = db.prepare('INSERT INTO log (revision, events) VALUES (?, ?)');
  // A chunk of revisions at a time: better-sqlite3 cannot write while a read iterates.
  const chunkEnd = db.prepare<[number], { last: number | null }>('SELECT MAX(revision) AS last FROM (SELECT DISTINCT revision FROM changes WHERE revision > ? ORDER BY revision LIMIT 1000)');
  const rows = db.prepare<[number, number], ChangeRow>('SELECT revision, key, type, value, prev_value FROM changes WHERE revision > ? AND revision <= ? ORDER BY revision, seq');
  let after = -1;
  for (let last = chunkEnd.get(after)?.last; last !== null && last !== undefined; after = last, last = chunkEnd.get(after)?.last) {
    let batch: WatchEvent[] = [];
    for (const row of rows.all(after, last)) {
      if (batch.length > 0 && batch[0]!.revision !== row.revision) {
        insert.run(batch[0]!.revision, encodeEvents(batch));
        batch = [];
      }
      const e: WatchEvent = { type: row.type, key: row.key, revision: row.revision };
      if (row.value !== null) e.value = row.value;
      if (row.prev_value !== null) e.prevValue = row.prev_value;
      batch.push(e);
    }
    if (batch.length > 0) insert.run(batch[0]!.revision, encodeEvents(batch));
  }
  db.exec('DROP TABLE changes');
}
