import { viewOf, type Allocation, type AllocStatus, type AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { jobKey, type AllocId, type EvalId, type JobKey, type NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { keys, prefixes, type StateChange } from './state.js';

/** The prefixes the read model holds; everything else in the store is ignored. */
export const CACHED_PREFIXES = [prefixes.jobs, prefixes.allocs, prefixes.allocStatus, prefixes.nodes, prefixes.evals] as const;
export type CachedPrefix = (typeof CACHED_PREFIXES)[number];

export function cachedPrefixOf(key: string): CachedPrefix | undefined {
  for (const p of CACHED_PREFIXES) if (key.startsWith(p)) return p;
  return undefined;
}

/**
 * The maps and indexes behind the StateCache, and the one function that changes them.
 * Every update costs O(1) map operations, so 100k+ allocations stay cheap to follow.
 * Objects are frozen on the way in and replaced, never edited, so readers can hold them.
 */
export class StateIndex {
  readonly jobs = new Map<string, Job>(); // by store key
  readonly nodes = new Map<NodeId, Node>();
  readonly allocs = new Map<AllocId, Allocation>();
  /** Kept even without an allocation: the agent may report before the watch shows the alloc. */
  readonly statuses = new Map<AllocId, AllocStatus>();
  /** One merged view per allocation; rebuilt when either half changes. */
  readonly views = new Map<AllocId, AllocView>();
  readonly allocsByNode = new Map<NodeId, Set<AllocId>>();
  readonly allocsByJob = new Map<JobKey, Set<AllocId>>();
  readonly evals = new Map<EvalId, Evaluation>();
  readonly evalsByJob = new Map<JobKey, Set<EvalId>>();
  /** modRevision of every cached key: lets a rebuild tell what changed. */
  readonly modRevisions = new Map<string, number>();

  constructor(private readonly opts: { freeze: boolean; onBadValue: (key: string, err: unknown) => void }) {}

  /**
   * Applies one change: `value` undefined means the key was deleted. Pushes the resulting
   * StateChange onto `changes` when given.
   */
  apply(key: string, value: string | undefined, revision: number, changes?: StateChange[]): void {
    const prefix = cachedPrefixOf(key);
    if (prefix === undefined) return;
    let record: unknown;
    if (value !== undefined) {
      try {
        record = this.freeze(JSON.parse(value));
      } catch (err) {
        this.opts.onBadValue(key, err);
        return;
      }
      this.modRevisions.set(key, revision);
    } else {
      this.modRevisions.delete(key);
    }
    const id = key.slice(prefix.length);
    switch (prefix) {
      case prefixes.jobs: {
        const before = this.jobs.get(key);
        const after = record as Job | undefined;
        if (after) this.jobs.set(key, after);
        else this.jobs.delete(key);
        if (before || after) changes?.push({ type: 'job', key, before, after });
        return;
      }
      case prefixes.nodes: {
        const before = this.nodes.get(id as NodeId);
        const after = record as Node | undefined;
        if (after) this.nodes.set(id as NodeId, after);
        else this.nodes.delete(id as NodeId);
        if (before || after) changes?.push({ type: 'node', key, before, after });
        return;
      }
      case prefixes.evals:
        return this.applyEval(key, id as EvalId, record as Evaluation | undefined, changes);
      case prefixes.allocs:
        return this.applyAlloc(id as AllocId, record as Allocation | undefined, changes);
      case prefixes.allocStatus: {
        const allocId = id as AllocId;
        if (record) this.statuses.set(allocId, record as AllocStatus);
        else this.statuses.delete(allocId);
        return this.refreshView(allocId, changes);
      }
    }
  }

  private applyEval(key: string, id: EvalId, after: Evaluation | undefined, changes?: StateChange[]): void {
    const before = this.evals.get(id);
    if (before) removeFrom(this.evalsByJob, jobKey(before.namespace, before.jobName), id);
    if (after) {
      this.evals.set(id, after);
      addTo(this.evalsByJob, jobKey(after.namespace, after.jobName), id);
    } else {
      this.evals.delete(id);
    }
    if (before || after) changes?.push({ type: 'eval', key, before, after });
  }

  private applyAlloc(id: AllocId, after: Allocation | undefined, changes?: StateChange[]): void {
    const before = this.allocs.get(id);
    if (before) {
      removeFrom(this.allocsByNode, before.nodeId, id);
      removeFrom(this.allocsByJob, jobKey(before.namespace, before.jobName), id);
    }
    if (after) {
      this.allocs.set(id, after);
      addTo(this.allocsByNode, after.nodeId, id);
      addTo(this.allocsByJob, jobKey(after.namespace, after.jobName), id);
    } else {
      this.allocs.delete(id);
    }
    this.refreshView(id, changes);
  }

  private refreshView(id: AllocId, changes?: StateChange[]): void {
    const before = this.views.get(id);
    const alloc = this.allocs.get(id);
    const after = alloc && (this.opts.freeze ? Object.freeze(viewOf(alloc, this.statuses.get(id))) : viewOf(alloc, this.statuses.get(id)));
    if (after) this.views.set(id, after);
    else this.views.delete(id);
    if (before || after) changes?.push({ type: 'alloc', key: keys.alloc(id), before, after });
  }

  private freeze<T>(v: T): T {
    return this.opts.freeze ? deepFreeze(v) : v;
  }
}

/**
 * What differs between two indexes, as the changes a listener would have seen had it
 * followed every event: used after a rebuild (compaction), so subscribers stay level-correct.
 */
export function diffIndexes(before: StateIndex, after: StateIndex): StateChange[] {
  const changed = new Set<string>();
  for (const [key, rev] of before.modRevisions) if (after.modRevisions.get(key) !== rev) changed.add(key);
  for (const key of after.modRevisions.keys()) if (!before.modRevisions.has(key)) changed.add(key);
  const changes: StateChange[] = [];
  const allocIds = new Set<AllocId>();
  for (const key of changed) {
    const prefix = cachedPrefixOf(key)!;
    const id = key.slice(prefix.length);
    switch (prefix) {
      case prefixes.jobs:
        changes.push({ type: 'job', key, before: before.jobs.get(key), after: after.jobs.get(key) });
        break;
      case prefixes.nodes:
        changes.push({ type: 'node', key, before: before.nodes.get(id as NodeId), after: after.nodes.get(id as NodeId) });
        break;
      case prefixes.evals:
        changes.push({ type: 'eval', key, before: before.evals.get(id as EvalId), after: after.evals.get(id as EvalId) });
        break;
      case prefixes.allocs:
      case prefixes.allocStatus:
        allocIds.add(id as AllocId);
        break;
    }
  }
  for (const id of allocIds) {
    const b = before.views.get(id);
    const a = after.views.get(id);
    if (b || a) changes.push({ type: 'alloc', key: keys.alloc(id), before: b, after: a });
  }
  return changes;
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) index.delete(key);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}
