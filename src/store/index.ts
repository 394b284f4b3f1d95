/**
 * store: the versioned key–value store that is the only channel between Karu's loops
 * (ARCHITECTURE invariant 1), and the typed layer over it.
 *
 * - `Store` (store.ts): etcd-like KV with revisions, compare-and-swap, transactions,
 *   watch and leases; `SqliteStore` (sqlite/) is the embedded implementation, and every
 *   implementation must pass `runStoreSuite` (store.suite.ts).
 * - `StateStore` (state.ts, state-store.ts): Karu's objects as JSON under a fixed key
 *   layout; the control plane writes only through it.
 * - `StateCache` (state.ts, state-cache.ts): the leader's in-memory, indexed read model,
 *   fed by one watch.
 *
 * Implementations are not re-exported here (importing this file must not load SQLite's
 * native module): the composition root imports `sqlite/sqlite-store.js` itself.
 * Imports core and lib only. See docs/design/store.md.
 */
export * from './store.js';
export * from './state.js';
export { createStateStore, writeKey } from './state-store.js';
export { openStateCache, type StateCacheOptions } from './state-cache.js';
