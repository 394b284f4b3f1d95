import type { Disposable } from '../lib/disposable.js';

/**
 * The store: a versioned key–value map with compare-and-swap, transactions, watch and
 * leases — the only channel between Karu's loops (ARCHITECTURE invariant 1).
 *
 * Semantics follow etcd's so that the SQLite and etcd implementations pass one suite
 * (store.suite.ts):
 * - every successful write bumps the store-wide `revision` by one (a transaction counts once);
 * - each key remembers `createRevision` and `modRevision` (the revision that last wrote it);
 * - a watch from revision R delivers every change with revision > R, in order, then live;
 * - keys attached to a lease are deleted when the lease expires or is revoked.
 */
export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** All keys starting with `prefix`, in key order, and the revision the read saw. */
  list(prefix: string, opts?: { limit?: number; startAfter?: string }): Promise<ListResult>;
  /**
   * Writes `value`. With `expectedModRevision` it is a compare-and-swap: 0 means "must not
   * exist", N means "must still be at modRevision N"; otherwise ConflictError is thrown.
   * Returns the new revision.
   */
  put(key: string, value: string, opts?: PutOptions): Promise<number>;
  /** Deletes `key`; false when it did not exist. `expectedModRevision` as for put. */
  delete(key: string, opts?: { expectedModRevision?: number }): Promise<boolean>;
  /** All `compares` hold → apply `success` ops atomically; else apply `failure` ops (default none). */
  txn(req: TxnRequest): Promise<TxnResult>;
  /** The current store revision. */
  revision(): Promise<number>;
  /**
   * Calls `onEvents` with each committed change under `prefix` newer than `fromRevision`
   * (batched per transaction, in revision order), then keeps calling it for new changes.
   * If `fromRevision` has been compacted away, `onError` receives a CompactedError and
   * the watch ends: re-list and watch again.
   */
  watch(prefix: string, fromRevision: number, onEvents: (events: WatchEvent[]) => void, onError?: (err: Error) => void): Disposable;
  /** A lease that expires `ttlMs` after its last keep-alive. */
  grantLease(ttlMs: number): Promise<LeaseId>;
  keepAlive(lease: LeaseId): Promise<void>;
  revokeLease(lease: LeaseId): Promise<void>;
  /** Drops history older than `revision` (watches from before it get CompactedError). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

export type LeaseId = string;

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Times this key has been written since it was (re)created; 1 on create. */
  version: number;
  lease?: LeaseId;
}

export interface ListResult {
  items: KeyValue[];
  revision: number;
}

export interface PutOptions {
  expectedModRevision?: number;
  lease?: LeaseId;
}

export type Compare =
  | { key: string; target: 'modRevision'; op: '=' | '!=' | '<' | '>'; value: number }
  | { key: string; target: 'exists'; value: boolean }
  | { key: string; target: 'value'; op: '=' | '!='; value: string };

export type TxnOp =
  | { type: 'put'; key: string; value: string; lease?: LeaseId }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string };

export interface TxnRequest {
  compares: Compare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

export interface TxnResult {
  succeeded: boolean;
  revision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** Present for puts. */
  value?: string;
  /** Revision of the change. */
  revision: number;
  /** The value before the change, when known. */
  prevValue?: string;
}

export class CompactedError extends Error {
  constructor(readonly compactRevision: number) {
    super(`revision ${compactRevision} has been compacted; re-list and watch again`);
    this.name = 'CompactedError';
  }
}
