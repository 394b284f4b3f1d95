import { isLive } from '../core/alloc.js';
import type { Allocation, AllocView } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Resources } from '../core/resources.js';
import { GroupOverlay, PortOverlay } from './overlay.js';
import type { GroupCounts, PortsView } from './overlay.js';
import type { SchedulerState } from './types.js';

/**
 * What is in use on one node, as the plan being built would leave it. `ports` and `groups`
 * are read-only views (overlay.ts): the state's own set and map, shared and never written,
 * under what the plan added and freed, so touching a node costs O(1) however much it
 * holds. The state must not change under a tracker (schedule and verifyPlan are
 * synchronous). Change usage only through `UsageTracker.add`/`release`.
 */
export interface NodeUsage {
  readonly used: Resources;
  /** Host ports held by live allocations (static and dynamic alike). */
  readonly ports: PortsView;
  /**
   * Live allocations per `namespace/job/group`. Anti-affinity reads the same count for the
   * group it places from `JobCounts.liveOnNodes`, a smaller map (usage.test.ts checks they agree).
   */
  readonly groups: GroupCounts;
}

/** A node usage the tracker (or a model like rebalance's) may change. */
export interface MutableNodeUsage extends NodeUsage {
  readonly ports: PortOverlay;
  readonly groups: GroupOverlay;
}

/**
 * A node's usage over the state's (or a fresh) port set and group map. The overlays are
 * made on first use: most nodes a plan visits are only checked for cpu and memory.
 */
class TrackedUsage implements MutableNodeUsage {
  private portOverlay: PortOverlay | undefined;
  private groupOverlay: GroupOverlay | undefined;

  constructor(
    readonly used: Resources,
    private readonly basePorts: ReadonlySet<number>,
    private readonly baseGroups: ReadonlyMap<string, number>,
  ) {}

  get ports(): PortOverlay {
    return (this.portOverlay ??= new PortOverlay(this.basePorts));
  }

  get groups(): GroupOverlay {
    return (this.groupOverlay ??= new GroupOverlay(this.baseGroups));
  }
}

/** Nothing in use, over fresh empty bases. */
export const emptyUsage = (): MutableNodeUsage => new TrackedUsage({ cpuMhz: 0, memoryMb: 0 }, new Set(), new Map());

/** Identity of a job's group across namespaces, for anti-affinity counts. */
export const groupKey = (a: { namespace: string; jobName: string; group: string }) => `${a.namespace}/${a.jobName}/${a.group}`;

/**
 * Resources and ports per node = the snapshot's live allocations, minus the ones the plan
 * stops, plus the ones the plan places. Computed lazily per node (a plan touches few nodes
 * of many) and updated as placements are made, so later placements in the same plan see
 * earlier ones.
 */
export class UsageTracker {
  private readonly byNode = new Map<NodeId, MutableNodeUsage>();
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

  /** The node's usage: one object per node for the tracker's life, kept current in place (callers may hold it). */
  of(nodeId: NodeId): NodeUsage {
    return this.mutable(nodeId);
  }

  /** Counts a placement the plan has just made. */
  add(alloc: Allocation): void {
    addTo(this.mutable(alloc.nodeId), alloc);
  }

  /** Frees a live allocation of the snapshot the plan now stops (a preemption). Idempotent. */
  release(alloc: AllocView): void {
    if (this.freed.has(alloc.id)) return;
    const counted = this.byNode.has(alloc.nodeId) && isLive(alloc) && !this.ignore.has(alloc.id);
    this.freed.add(alloc.id);
    if (!counted) return;
    subtract(this.mutable(alloc.nodeId), alloc);
  }

  private mutable(nodeId: NodeId): MutableNodeUsage {
    let u = this.byNode.get(nodeId);
    if (u === undefined) {
      u = this.discount !== undefined ? this.fromSnapshot(nodeId, this.discount) : this.sum(nodeId);
      this.byNode.set(nodeId, u);
    }
    return u;
  }

  /** The state's usage of the node: its sets shared read-only under overlays. */
  private fromSnapshot(nodeId: NodeId, discount: Map<NodeId, AllocView[]>): MutableNodeUsage {
    const s = this.state.nodeUsage!(nodeId);
    const u = new TrackedUsage({ cpuMhz: s.cpuMhz, memoryMb: s.memoryMb }, s.ports, s.groups);
    const minus = discount.get(nodeId);
    if (minus !== undefined) for (const a of minus) subtract(u, a);
    return u;
  }

  /** The sum over the node's live allocations (states without `nodeUsage`). */
  private sum(nodeId: NodeId): MutableNodeUsage {
    const used = { cpuMhz: 0, memoryMb: 0 };
    const ports = new Set<number>();
    const groups = new Map<string, number>();
    for (const a of this.state.allocsByNode(nodeId)) {
      if (!isLive(a) || this.freed.has(a.id) || this.ignore.has(a.id)) continue;
      used.cpuMhz += a.resources.cpuMhz;
      used.memoryMb += a.resources.memoryMb;
      for (const p of a.ports) ports.add(p.host);
      const k = groupKey(a);
      groups.set(k, (groups.get(k) ?? 0) + 1);
    }
    // Built here and never written again: the overlays' bases, like the state's own.
    return new TrackedUsage(used, ports, groups);
  }
}

function subtract(u: MutableNodeUsage, a: Allocation): void {
  u.used.cpuMhz -= a.resources.cpuMhz;
  u.used.memoryMb -= a.resources.memoryMb;
  for (const p of a.ports) u.ports.delete(p.host);
  u.groups.remove(groupKey(a));
}

function addTo(u: MutableNodeUsage, a: Allocation): void {
  u.used.cpuMhz += a.resources.cpuMhz;
  u.used.memoryMb += a.resources.memoryMb;
  for (const p of a.ports) u.ports.add(p.host);
  u.groups.add(groupKey(a));
}
