/**
 * The SQLite layout of the store. One database file holds the current key–value map,
 * the change log that watches replay from, the leases and two counters.
 *
 * `changes` is keyed by (revision, seq): a transaction writes one revision with as many
 * changes as it touched keys. Rows older than `meta.compacted` are gone (see compact()).
 */
export const SCHEMA_VERSION = 1;

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

CREATE TABLE IF NOT EXISTS changes (
  revision   INTEGER NOT NULL,
  seq        INTEGER NOT NULL,
  key        TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('put', 'delete')),
  value      TEXT,
  prev_value TEXT,
  PRIMARY KEY (revision, seq)
) WITHOUT ROWID;

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
