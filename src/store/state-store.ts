import { ConflictError, KaruError } from '../core/errors.js';
import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Allocation, AllocStatus } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { keys, prefixes, type NodeRevocation, type ServiceVip, type StateDelete, type StateStore, type StateWrite, type Versioned } from './state.js';
import type { Compare, Store, TxnOp } from './store.js';
import { decodeRecord, encodeRecord } from './codec.js';

/**
 * Typed records over any Store: JSON values under the key layout of state.ts.
 * `commit` is one transaction, guarded by a compare per write that names an
 * `expectedModRevision`, so a loop's read-decide-write is a compare-and-swap.
 */
export function createStateStore(store: Store): StateStore {
  async function getJson<T>(key: string): Promise<Versioned<T> | undefined> {
    const kv = await store.get(key);
    return kv && { value: decode<T>(key, kv.value), modRevision: kv.modRevision };
  }

  return {
    getJob: (namespace, name) => getJson<Job>(keys.job(namespace, name)),
    async listJobVersions(namespace, name) {
      // Versions are zero-padded in the key, so key order is version order.
      const { items } = await store.list(keys.jobVersions(namespace, name));
      return items.map((kv) => decode<Job>(kv.key, kv.value));
    },
    getNode: (id: NodeId) => getJson<Node>(keys.node(id)),
    async getNodeSecret(id: NodeId) {
      return (await getJson<string>(keys.nodeSecret(id)))?.value;
    },
    async getNodeRevocation(id: NodeId) {
      return (await getJson<NodeRevocation>(keys.nodeRevoked(id)))?.value;
    },
    getAlloc: (id: AllocId) => getJson<Allocation>(keys.alloc(id)),
    getAllocStatus: (id: AllocId) => getJson<AllocStatus>(keys.allocStatus(id)),
    getEval: (id: EvalId) => getJson<Evaluation>(keys.eval(id)),
    async listServiceVips() {
      const { items } = await store.list(prefixes.serviceVips);
      return items.map((kv) => ({ value: decode<ServiceVip>(kv.key, kv.value), modRevision: kv.modRevision }));
    },

    async commit(writes: StateWrite[], deletes: StateDelete[] = []) {
      const compares: Compare[] = [];
      const ops: TxnOp[] = [];
      for (const w of writes) {
        const key = writeKey(w);
        if (w.expectedModRevision !== undefined) compares.push({ key, target: 'modRevision', op: '=', value: w.expectedModRevision });
        ops.push({ type: 'put', key, value: encodeRecord(key, w.value) });
      }
      for (const d of deletes) {
        if (d.kind === 'jobVersions') {
          ops.push({ type: 'deletePrefix', prefix: keys.jobVersions(d.namespace, d.name) });
          continue;
        }
        const key = deleteKey(d);
        if (d.kind === 'job' && d.expectedModRevision !== undefined) compares.push({ key, target: 'modRevision', op: '=', value: d.expectedModRevision });
        ops.push({ type: 'delete', key });
      }
      const result = await store.txn({ compares, success: ops });
      if (result.succeeded) return result.revision;
      throw await conflictFor(store, compares);
    },
  };
}

/** The store key a write goes to. */
export function writeKey(w: StateWrite): string {
  switch (w.kind) {
    case 'job':
      return keys.job(w.value.namespace, w.value.name);
    case 'jobVersion':
      return keys.jobVersion(w.value.namespace, w.value.name, w.value.version);
    case 'alloc':
      return keys.alloc(w.value.id);
    case 'allocStatus':
      return keys.allocStatus(w.value.id);
    case 'node':
      return keys.node(w.value.id);
    case 'nodeSecret':
      return keys.nodeSecret(w.nodeId);
    case 'nodeRevoked':
      return keys.nodeRevoked(w.value.nodeId);
    case 'eval':
      return keys.eval(w.value.id);
    case 'serviceVip':
      return keys.serviceVip(w.value.namespace, w.value.name);
  }
}

function deleteKey(d: Exclude<StateDelete, { kind: 'jobVersions' }>): string {
  switch (d.kind) {
    case 'job':
      return keys.job(d.namespace, d.name);
    case 'alloc':
      return keys.alloc(d.id);
    case 'allocStatus':
      return keys.allocStatus(d.id);
    case 'node':
      return keys.node(d.id);
    case 'eval':
      return keys.eval(d.id);
    case 'serviceVip':
      return keys.serviceVip(d.namespace, d.name);
  }
}

/**
 * Finds which expectation failed, to name the key in the error. Re-reading races with
 * other writers, so when every compare holds again the error names all the keys compared.
 */
async function conflictFor(store: Store, compares: Compare[]): Promise<ConflictError> {
  for (const c of compares) {
    if (c.target !== 'modRevision') continue;
    const actual = (await store.get(c.key))?.modRevision ?? 0;
    if (actual === c.value) continue;
    const expected = c.value === 0 ? 'expected it not to exist' : `expected modRevision ${c.value}`;
    const found = actual === 0 ? 'it does not exist' : `found ${actual}`;
    return new ConflictError(`${c.key} was changed by another writer (${expected}, ${found}); re-read and retry`, {
      key: c.key,
      expectedModRevision: c.value,
      modRevision: actual,
    });
  }
  const all = compares.map((c) => c.key);
  return new ConflictError(`one of ${all.join(', ')} was changed by another writer; re-read and retry`, { keys: all });
}

function decode<T>(key: string, value: string): T {
  try {
    return decodeRecord(key, value) as T;
  } catch (err) {
    throw new KaruError('INTERNAL', `the value at ${key} is not valid JSON`, { cause: err, retryable: false });
  }
}
