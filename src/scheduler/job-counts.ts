import { isClientTerminal, isLive } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { targetResolver } from './constraints.js';
import type { TargetResolver } from './constraints.js';
import type { SchedulerState } from './types.js';

/** One allocation of the job as the counts see it. */
interface Counted {
  nodeId: NodeId;
  group: string;
}

/** Counts per value of one attribute, for the whole job (scope '') or one group. */
interface ValueCounts {
  scope: string;
  resolve: TargetResolver;
  counts: Map<string, number>;
}

/**
 * Where one job's allocations are, as the plan being built would leave them: per node
 * and per value of a node attribute, for the whole job or one of its groups. It feeds
 * `distinct_hosts`, `distinct_property` and spread blocks, so that a placement asks a map
 * instead of walking the job's allocations (one placement stays O(sample), not
 * O(nodes × allocations)).
 *
 * An allocation counts while it is meant to run (desired `run`, not client-terminal) and
 * the plan does not stop it, plus every placement the plan has made so far (any group, so
 * job-wide counts see the earlier groups' placements). Allocations stopped but still
 * shutting down do not count: they are leaving, as in Nomad's "proposed allocations".
 *
 * Apart from those, `liveOnNode` counts as the node's usage does (`isLive`, usage.ts): for
 * anti-affinity, a small per-plan map read per scored node instead of every scored node's
 * own group counts in the read model (a cache miss each, at scale).
 */
export class JobCounts {
  private readonly counted: Counted[] = [];
  /** Per group ('' = the whole job): allocations per node. */
  private readonly byNode = new Map<string, Map<NodeId, number>>();
  /** Per group: live allocations per node, the plan's stops left out, its placements in. */
  private readonly live = new Map<string, Map<NodeId, number>>();
  /** Per group ('' = the whole job), per attribute: built on first use and kept up to date by `add`. */
  private readonly byValue = new Map<string, Map<string, ValueCounts>>();
  /** Every entry of `byValue`, for `add`. */
  private readonly valueCounts: ValueCounts[] = [];

  constructor(
    private readonly state: SchedulerState,
    job: Pick<Job, 'namespace' | 'name'>,
    stopping: ReadonlySet<AllocId> = new Set(),
  ) {
    for (const a of state.allocsByJob(job.namespace, job.name)) {
      if (stopping.has(a.id)) continue;
      if (isLive(a)) bump(this.live, a.group, a.nodeId);
      if (a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus)) continue;
      this.count(a);
    }
  }

  /** Counts a placement the plan has just made. */
  add(a: Counted): void {
    bump(this.live, a.group, a.nodeId);
    this.count(a);
  }

  private count(a: Counted): void {
    this.counted.push({ nodeId: a.nodeId, group: a.group });
    bump(this.byNode, '', a.nodeId);
    bump(this.byNode, a.group, a.nodeId);
    if (this.valueCounts.length === 0) return;
    const node = this.state.node(a.nodeId);
    if (node === undefined) return;
    for (const e of this.valueCounts) {
      if (e.scope !== '' && e.scope !== a.group) continue;
      const v = e.resolve(node);
      if (v !== undefined) e.counts.set(v, (e.counts.get(v) ?? 0) + 1);
    }
  }

  /** Allocations of the job (or of `group`) on `nodeId`. */
  onNode(nodeId: NodeId, group?: string): number {
    return this.byNode.get(group ?? '')?.get(nodeId) ?? 0;
  }

  /**
   * Live allocations of `group` per node (`isLive`, less the plan's stops, plus its
   * placements): what the nodes' usage counts under the group's `groupKey`. Live: updated by `add`.
   */
  liveOnNodes(group: string): ReadonlyMap<NodeId, number> {
    let m = this.live.get(group);
    if (m === undefined) this.live.set(group, (m = new Map()));
    return m;
  }

  /** Allocations of the job (or of `group`) per value of `attribute` (`${label.zone}`). Live: updated by `add`. */
  perValue(attribute: string, group?: string): ReadonlyMap<string, number> {
    const scope = group ?? '';
    let byAttribute = this.byValue.get(scope);
    if (byAttribute === undefined) this.byValue.set(scope, (byAttribute = new Map()));
    let e = byAttribute.get(attribute);
    if (e === undefined) {
      e = { scope, resolve: targetResolver(attribute), counts: new Map() };
      for (const a of this.counted) {
        if (group !== undefined && a.group !== group) continue;
        const node: Node | undefined = this.state.node(a.nodeId);
        const v = node === undefined ? undefined : e.resolve(node);
        if (v !== undefined) e.counts.set(v, (e.counts.get(v) ?? 0) + 1);
      }
      byAttribute.set(attribute, e);
      this.valueCounts.push(e);
    }
    return e.counts;
  }
}

function bump(m: Map<string, Map<NodeId, number>>, group: string, nodeId: NodeId): void {
  let perNode = m.get(group);
  if (perNode === undefined) m.set(group, (perNode = new Map()));
  perNode.set(nodeId, (perNode.get(nodeId) ?? 0) + 1);
}
