import { isLive } from '../core/alloc.js';
import type { Allocation, AllocView } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Resources } from '../core/resources.js';
import type { SchedulerState } from './types.js';

/** What is in use on one node, as the plan being built would leave it. */
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
  /** Allocations freed so far: the plan's stops, then its preemptions as they are chosen. */
  private readonly freed: Set<AllocId>;

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
  }

  /** Whether the plan stops (or preempts) `id`. */
  isFreed(id: AllocId): boolean {
    return this.freed.has(id);
  }

  of(nodeId: NodeId): NodeUsage {
    let u = this.byNode.get(nodeId);
    if (u === undefined) {
      u = { used: { cpuMhz: 0, memoryMb: 0 }, ports: new Set(), groups: new Map() };
      for (const a of this.state.allocsByNode(nodeId)) {
        if (!isLive(a) || this.freed.has(a.id) || this.ignore.has(a.id)) continue;
        addTo(u, a);
      }
      this.byNode.set(nodeId, u);
    }
    return u;
  }

  /** Counts a placement the plan has just made. */
  add(alloc: Allocation): void {
    addTo(this.of(alloc.nodeId), alloc);
  }

  /** Frees a live allocation of the snapshot the plan now stops (a preemption). Idempotent. */
  release(alloc: AllocView): void {
    if (this.freed.has(alloc.id)) return;
    const counted = this.byNode.has(alloc.nodeId) && isLive(alloc) && !this.ignore.has(alloc.id);
    this.freed.add(alloc.id);
    if (!counted) return;
    const u = this.byNode.get(alloc.nodeId)!;
    u.used.cpuMhz -= alloc.resources.cpuMhz;
    u.used.memoryMb -= alloc.resources.memoryMb;
    for (const p of alloc.ports) u.ports.delete(p.host);
    const k = groupKey(alloc);
    const n = (u.groups.get(k) ?? 0) - 1;
    if (n > 0) u.groups.set(k, n);
    else u.groups.delete(k);
  }
}

function addTo(u: NodeUsage, a: Allocation): void {
  u.used.cpuMhz += a.resources.cpuMhz;
  u.used.memoryMb += a.resources.memoryMb;
  for (const p of a.ports) u.ports.add(p.host);
  const k = groupKey(a);
  u.groups.set(k, (u.groups.get(k) ?? 0) + 1);
}
