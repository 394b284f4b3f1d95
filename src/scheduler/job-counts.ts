import { isClientTerminal } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import { resolveTarget } from './constraints.js';
import type { SchedulerState } from './types.js';

/** One allocation of the job as the counts see it. */
interface Counted {
  nodeId: NodeId;
  group: string;
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
 */
export class JobCounts {
  private readonly counted: Counted[] = [];
  /** `${group}\0${nodeId}`; group '' = the whole job. */
  private readonly byNode = new Map<string, number>();
  /** Per `${group}\0${attribute}`, built on first use and kept up to date: value → count. */
  private readonly byValue = new Map<string, Map<string, number>>();

  constructor(
    private readonly state: SchedulerState,
    job: Pick<Job, 'namespace' | 'name'>,
    stopping: ReadonlySet<AllocId> = new Set(),
  ) {
    for (const a of state.allocsByJob(job.namespace, job.name)) {
      if (a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus) || stopping.has(a.id)) continue;
      this.add(a);
    }
  }

  /** Counts a placement the plan has just made. */
  add(a: Counted): void {
    this.counted.push({ nodeId: a.nodeId, group: a.group });
    for (const scope of ['', a.group]) {
      const k = `${scope}\0${a.nodeId}`;
      this.byNode.set(k, (this.byNode.get(k) ?? 0) + 1);
    }
    if (this.byValue.size === 0) return;
    const node = this.state.node(a.nodeId);
    if (node === undefined) return;
    for (const [k, m] of this.byValue) {
      const [scope, attribute] = k.split('\0') as [string, string];
      if (scope !== '' && scope !== a.group) continue;
      const v = resolveTarget(attribute, node);
      if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
    }
  }

  /** Allocations of the job (or of `group`) on `nodeId`. */
  onNode(nodeId: NodeId, group?: string): number {
    return this.byNode.get(`${group ?? ''}\0${nodeId}`) ?? 0;
  }

  /** Allocations of the job (or of `group`) per value of `attribute` (`${label.zone}`). Live: updated by `add`. */
  perValue(attribute: string, group?: string): ReadonlyMap<string, number> {
    const k = `${group ?? ''}\0${attribute}`;
    let m = this.byValue.get(k);
    if (m === undefined) {
      m = new Map();
      for (const a of this.counted) {
        if (group !== undefined && a.group !== group) continue;
        const node = this.state.node(a.nodeId);
        const v = node === undefined ? undefined : resolveTarget(attribute, node);
        if (v !== undefined) m.set(v, (m.get(v) ?? 0) + 1);
      }
      this.byValue.set(k, m);
    }
    return m;
  }
}
