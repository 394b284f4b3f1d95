import { isLive, NO_TASK_STATES, viewOf, type AllocStatusHalf, type Allocation, type AllocStatus, type AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { jobKey, type AllocId, type EvalId, type JobKey, type NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { decodeWatchedRecord } from './codec.js';
import { keys, prefixes, type NodeLoad, type StateChange } from './state.js';

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
  /**
   * One object per allocation: its record merged with what its agent last reported,
   * replaced (never edited) when either half changes. Neither half is kept apart: at a
   * million allocations every retained object is heap the GC walks (issue 5).
   */
  readonly views = new Map<AllocId, AllocView>();
  /**
   * Statuses with no allocation in the index: the agent may report before the watch shows
   * the allocation, a cold load reads statuses first, and a deleted allocation's status
   * key may outlive it. Taken out when the allocation arrives.
   */
  private readonly orphanStatuses = new Map<AllocId, AllocStatusHalf>();
  /** The views themselves per node and per job, so a lookup copies no ids and does no lookups. */
  readonly allocsByNode = new Map<NodeId, Map<AllocId, AllocView>>();
  readonly allocsByJob = new Map<JobKey, Map<AllocId, AllocView>>();
  /**
   * What the live allocations on each node hold, kept as views come and go, so the
   * scheduler and the plan applier read a node's usage in O(1) instead of summing its
   * allocations (issue 5: the sum was 13 % of the server's CPU at scale).
   */
  readonly loads = new Map<NodeId, MutableNodeLoad>();
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
        record = this.freeze(decodeWatchedRecord(key, value));
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
      case prefixes.allocStatus:
        return this.applyStatus(id as AllocId, record as AllocStatus | undefined, changes);
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

  private applyAlloc(id: AllocId, alloc: Allocation | undefined, changes?: StateChange[]): void {
    const before = this.views.get(id);
    if (alloc === undefined) {
      // The status may outlive its allocation (deleted apart); keep it for a later put.
      if (before !== undefined && this.modRevisions.has(keys.allocStatus(id))) this.orphanStatuses.set(id, statusHalfOf(before));
      return this.replaceView(id, before, undefined, changes);
    }
    let status: AllocStatusHalf | undefined = before;
    if (before === undefined) {
      status = this.orphanStatuses.get(id);
      if (status !== undefined) this.orphanStatuses.delete(id);
    }
    this.replaceView(id, before, this.frozenView(viewOf(alloc, status)), changes);
  }

  private applyStatus(id: AllocId, status: AllocStatus | undefined, changes?: StateChange[]): void {
    const before = this.views.get(id);
    if (before === undefined) {
      if (status !== undefined) this.orphanStatuses.set(id, status);
      else this.orphanStatuses.delete(id);
      return;
    }
    this.replaceView(id, before, this.frozenView(withStatus(before, status)), changes);
  }

  private frozenView(v: AllocView): AllocView {
    return this.opts.freeze ? Object.freeze(v) : v;
  }

  /**
   * Puts `after` where `before` was, in the per-node/per-job indexes and loads. The common
   * case — a status report on the same node and job, resources and ports unchanged — is a
   * few map sets: no index entry moves and the node's load is untouched.
   */
  private replaceView(id: AllocId, before: AllocView | undefined, after: AllocView | undefined, changes?: StateChange[]): void {
    if (before === undefined && after === undefined) return;
    if (before !== undefined && after !== undefined && before.nodeId === after.nodeId && before.namespace === after.namespace && before.jobName === after.jobName) {
      this.views.set(id, after);
      this.allocsByNode.get(after.nodeId)!.set(id, after);
      this.allocsByJob.get(jobKey(after.namespace, after.jobName))!.set(id, after);
      const wasLive = isLive(before);
      const live = isLive(after);
      if (wasLive !== live || (live && (before.resources !== after.resources || before.ports !== after.ports || before.group !== after.group))) {
        if (wasLive) this.unload(before);
        if (live) this.load(after);
      }
    } else {
      if (before) {
        removeFrom(this.allocsByNode, before.nodeId, id);
        removeFrom(this.allocsByJob, jobKey(before.namespace, before.jobName), id);
        if (isLive(before)) this.unload(before);
      }
      if (after) {
        this.views.set(id, after);
        addTo(this.allocsByNode, after.nodeId, id, after);
        addTo(this.allocsByJob, jobKey(after.namespace, after.jobName), id, after);
        if (isLive(after)) this.load(after);
      } else {
        this.views.delete(id);
      }
    }
    changes?.push({ type: 'alloc', key: keys.alloc(id), before, after });
  }

  private load(a: AllocView): void {
    let l = this.loads.get(a.nodeId);
    if (!l) this.loads.set(a.nodeId, (l = { cpuMhz: 0, memoryMb: 0, ports: new Set(), groups: new Map(), portHolders: new Map() }));
    l.cpuMhz += a.resources.cpuMhz;
    l.memoryMb += a.resources.memoryMb;
    for (const p of a.ports) {
      l.ports.add(p.host);
      l.portHolders.set(p.host, (l.portHolders.get(p.host) ?? 0) + 1);
    }
    const k = loadGroupKey(a);
    l.groups.set(k, (l.groups.get(k) ?? 0) + 1);
  }

  private unload(a: AllocView): void {
    const l = this.loads.get(a.nodeId);
    if (!l) return;
    l.cpuMhz -= a.resources.cpuMhz;
    l.memoryMb -= a.resources.memoryMb;
    for (const p of a.ports) {
      // Counted per holder: two live allocations may briefly claim one port (a plan the
      // applier rejected is never written, but the count keeps the set honest regardless).
      const n = (l.portHolders.get(p.host) ?? 0) - 1;
      if (n > 0) l.portHolders.set(p.host, n);
      else {
        l.portHolders.delete(p.host);
        l.ports.delete(p.host);
      }
    }
    const k = loadGroupKey(a);
    const n = (l.groups.get(k) ?? 0) - 1;
    if (n > 0) l.groups.set(k, n);
    else l.groups.delete(k);
    if (l.groups.size === 0) this.loads.delete(a.nodeId);
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


function statusHalfOf(v: AllocView): AllocStatusHalf {
  return { clientStatus: v.clientStatus, clientDescription: v.clientDescription, taskStates: v.taskStates, ...(v.checks ? { checks: v.checks } : {}) };
}

/** `view` with its status half replaced (undefined: as never reported). */
function withStatus(view: AllocView, status: AllocStatusHalf | undefined): AllocView {
  const half = { clientStatus: status?.clientStatus ?? 'pending', clientDescription: status?.clientDescription ?? '', taskStates: status?.taskStates ?? NO_TASK_STATES };
  if (status?.checks) return { ...view, ...half, checks: status.checks };
  if (view.checks === undefined) return { ...view, ...half };
  const { checks: _dropped, ...rest } = view;
  return { ...rest, ...half };
}

/** A node's load as the index keeps it: `portHolders` counts the live holders of each port. */
type MutableNodeLoad = NodeLoad & { cpuMhz: number; memoryMb: number; ports: Set<number>; groups: Map<string, number>; portHolders: Map<number, number> };

/** `namespace/job/group`: the same key as the scheduler's `groupKey` (scheduler/usage.ts), which the store may not import. */
const loadGroupKey = (a: { namespace: string; jobName: string; group: string }) => `${a.namespace}/${a.jobName}/${a.group}`;

function addTo<K, I>(index: Map<K, Set<I>>, key: K, id: I): void;
function addTo<K, I, V>(index: Map<K, Map<I, V>>, key: K, id: I, value: V): void;
function addTo<K, I, V>(index: Map<K, Set<I> | Map<I, V>>, key: K, id: I, value?: V): void {
  let entry = index.get(key);
  if (value === undefined) {
    if (!entry) index.set(key, (entry = new Set<I>()));
    (entry as Set<I>).add(id);
  } else {
    if (!entry) index.set(key, (entry = new Map<I, V>()));
    (entry as Map<I, V>).set(id, value);
  }
}

function removeFrom<K, I>(index: Map<K, Set<I> | Map<I, unknown>>, key: K, id: I): void {
  const entry = index.get(key);
  if (!entry) return;
  entry.delete(id);
  if (entry.size === 0) index.delete(key);
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    // for…in, not Object.values: no array per object (a cold load freezes millions).
    for (const k in v) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}
