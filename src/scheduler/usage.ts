import { isLive } from '../core/alloc.js';
import type { Allocation, AllocView } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Resources } from '../core/resources.js';
import type { SchedulerState } from './types.js';

/**
 * What is in use on one node, as the plan being built would leave it. The tracker may
 * share `ports` and `groups` with the state until it first changes them: read them, and
 * change usage only through `UsageTracker.add`/`release`.
 */
export interface NodeUsage {
  used: Resources;
  /** Host ports held by live allocations (static and dynamic alike). */
  ports: Set<number>;
  /** Live allocations per `namespace/job/group`, for anti-affinity. */
  groups: Map<string, number>;
}

/** Identity of a job's group across namespaces, for anti-affinity counts. */
export const groupKey = (a: { namespace: string; jobName: string; group: string }) => `${a.namespace}/${a.jobName}/${a.group}`;

/**
 * Resources and ports per node = the snapshot's live allocations, minus the ones the plan
 * stops, plus the ones the plan places. Computed lazily per node (a plan touches few nodes
 * of many) and updated as placements are made, so later placements in the same plan see
 * earlier ones.
 */
export class UsageTracker {
  private readonly byNode = new Map<NodeId, NodeUsage>();
  /** Nodes whose `ports`/`groups` are still the state's own objects (copied on first change). */
  private readonly shared = new Set<NodeId>();
  /** Allocations freed so far: the plan's stops, then its preemptions as they are chosen. */
  private readonly freed: Set<AllocId>;
  /**
   * With the state's `nodeUsage`: the live allocations, per node, that the snapshot counts
   * but this tracker must not (the plan's stops and ignored ids). Undefined: sum instead.
   */
  private readonly discount: Map<NodeId, AllocView[]> | undefined;

  /**
   * @param stopping allocations the plan stops: their resources count as free. The plan
   *   applier re-checks on the newest state, so this optimism cannot overcommit a node.
   * @param ignore allocations not to count from the snapshot (the plan's own placements
   *   when re-verifying a plan that may already have been written).
   */
  constructor(
    private readonly state: SchedulerState,
    stopping: ReadonlySet<AllocId> = new Set(),
    private readonly ignore: ReadonlySet<AllocId> = new Set(),
  ) {
    this.freed = new Set(stopping);
    if (state.nodeUsage !== undefined && state.alloc !== undefined) {
      this.discount = new Map();
      for (const ids of [stopping, ignore]) {
        for (const id of ids) {
          const a = state.alloc(id);
          if (a === undefined || !isLive(a)) continue;
          const list = this.discount.get(a.nodeId);
          if (list === undefined) this.discount.set(a.nodeId, [a]);
          else if (!list.some((b) => b.id === id)) list.push(a);
        }
      }
    }
  }

  /** Whether the plan stops (or preempts) `id`. */
  isFreed(id: AllocId): boolean {
    return this.freed.has(id);
  }

  of(nodeId: NodeId): NodeUsage {
    let u = this.byNode.get(nodeId);
    if (u === undefined) {
      u = this.discount !== undefined ? this.fromSnapshot(nodeId, this.discount) : this.sum(nodeId);
      this.byNode.set(nodeId, u);
    }
    return u;
  }

  /** Counts a placement the plan has just made. */
  add(alloc: Allocation): void {
    addTo(this.owned(alloc.nodeId), alloc);
  }

  /** The state's usage of the node, sharing its sets until the first change. */
  private fromSnapshot(nodeId: NodeId, discount: Map<NodeId, AllocView[]>): NodeUsage {
    const s = this.state.nodeUsage!(nodeId);
    const u: NodeUsage = { used: { cpuMhz: s.cpuMhz, memoryMb: s.memoryMb }, ports: s.ports as Set<number>, groups: s.groups as Map<string, number> };
    const minus = discount.get(nodeId);
    if (minus === undefined) {
      this.shared.add(nodeId);
      return u;
    }
    u.ports = new Set(u.ports);
    u.groups = new Map(u.groups);
    for (const a of minus) subtract(u, a);
    return u;
  }

  /** The sum over the node's live allocations (states without `nodeUsage`). */
  private sum(nodeId: NodeId): NodeUsage {
    const u: NodeUsage = { used: { cpuMhz: 0, memoryMb: 0 }, ports: new Set(), groups: new Map() };
    for (const a of this.state.allocsByNode(nodeId)) {
      if (!isLive(a) || this.freed.has(a.id) || this.ignore.has(a.id)) continue;
      addTo(u, a);
    }
    return u;
  }

  /** The node's usage, with sets of its own (copied from the state's on first change). */
  private owned(nodeId: NodeId): NodeUsage {
    const u = this.of(nodeId);
    if (this.shared.delete(nodeId)) {
      u.ports = new Set(u.ports);
      u.groups = new Map(u.groups);
    }
    return u;
  }

  /** Frees a live allocation of the snapshot the plan now stops (a preemption). Idempotent. */
  release(alloc: AllocView): void {
    if (this.freed.has(alloc.id)) return;
    const counted = this.byNode.has(alloc.nodeId) && isLive(alloc) && !this.ignore.has(alloc.id);
    this.freed.add(alloc.id);
    if (!counted) return;
    subtract(this.owned(alloc.nodeId), alloc);
  }
}

function subtract(u: NodeUsage, a: Allocation): void {
  u.used.cpuMhz -= a.resources.cpuMhz;
  u.used.memoryMb -= a.resources.memoryMb;
  for (const p of a.ports) u.ports.delete(p.host);
  const k = groupKey(a);
  const n = (u.groups.get(k) ?? 0) - 1;
  if (n > 0) u.groups.set(k, n);
  else u.groups.delete(k);
}

function addTo(u: NodeUsage, a: Allocation): void {
  u.used.cpuMhz += a.resources.cpuMhz;
  u.used.memoryMb += a.resources.memoryMb;
  for (const p of a.ports) u.ports.add(p.host);
  const k = groupKey(a);
  u.groups.set(k, (u.groups.get(k) ?? 0) + 1);
}
