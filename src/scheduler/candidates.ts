import type { Node } from '../core/node.js';
import { NO_USAGE, NODE_FILTERS, passes, rejectedBy, RESOURCE_REASONS } from './feasibility.js';
import type { FilterTally, NodeFilter, PlacementAsk, Rejection } from './feasibility.js';
import type { NodeUsage, UsageTracker } from './usage.js';

/** A node's verdict from the node-stage filters: null = passes. */
type NodeVerdict = { filter: NodeFilter; rejection: Rejection } | null;

/**
 * The feasible nodes of one group, found lazily. Nodes are walked in the (seeded,
 * shuffled) order given, each walk starting where the previous one stopped and wrapping
 * around once, so a placement that stops after a few feasible nodes costs O(those few),
 * and successive placements spread over the whole order instead of re-scanning (and,
 * under binpack, re-rejecting) the same full nodes at its front (Nomad's StaticIterator).
 *
 * Node-stage filters run at most once per node per group (cached); capacity filters run
 * at each visit, since earlier placements change what a node holds. A walk that finds
 * nothing has visited every node, so its tally explains the failure completely.
 * A walk that visits every node starts and ends at the same place, so a full scan ranks
 * nodes in exactly the shuffled order.
 */
export class CandidateWalk {
  private readonly verdicts: (NodeVerdict | undefined)[];
  /**
   * Per node, its usage from `tracker` (the tracker updates it in place, so it stays
   * current): one array read per visit instead of a map lookup by id.
   */
  private readonly usages: (NodeUsage | undefined)[];
  private tracker: UsageTracker | undefined;
  private cursor = 0;
  private remaining = 0;
  /**
   * Nodes this walk rejected only for lack of room (ports, cpu, memory), in walk order:
   * where preemption may make room when nothing fits.
   */
  readonly resourceRejected: Node[] = [];
  /** The usage of the node `next` last returned. */
  lastUsage: NodeUsage = NO_USAGE;

  constructor(
    private readonly nodes: readonly Node[],
    private readonly ask: PlacementAsk,
  ) {
    this.verdicts = new Array<NodeVerdict | undefined>(nodes.length);
    this.usages = new Array<NodeUsage | undefined>(nodes.length);
  }

  /** Starts a walk: at most one lap from where the last walk stopped. */
  begin(): void {
    this.remaining = this.nodes.length;
    this.resourceRejected.length = 0;
  }

  /** Every node that passes the node-stage filters (cached, shared with the walks): O(nodes), once per group. */
  nodeStageFeasible(): Node[] {
    const out: Node[] = [];
    for (let i = 0; i < this.nodes.length; i++) if (this.verdict(i, this.nodes[i]!) === null) out.push(this.nodes[i]!);
    return out;
  }

  /** The next node of this walk that passes every filter, or undefined once the lap is done. Rejections go to `tally`. */
  next(usage: UsageTracker, tally: FilterTally): Node | undefined {
    if (this.tracker !== usage) {
      this.tracker = usage;
      this.usages.fill(undefined);
    }
    const n = this.nodes.length;
    const filters = this.ask.capacityFilters;
    while (this.remaining > 0) {
      this.remaining--;
      const i = this.cursor;
      this.cursor = i + 1 === n ? 0 : i + 1;
      const node = this.nodes[i]!;
      const v = this.verdict(i, node);
      if (v !== null) {
        tally.record(v.filter, v.rejection);
        continue;
      }
      const u = (this.usages[i] ??= usage.of(node.id));
      const f = rejectedBy(filters, node, this.ask, u, tally);
      if (f === undefined) {
        this.lastUsage = u;
        return node;
      }
      if (RESOURCE_REASONS.has(f.reason)) this.resourceRejected.push(node);
    }
    return undefined;
  }

  /** Whether one given node passes every filter (a rebalance move's named target); records nothing. */
  fits(node: Node, usage: UsageTracker, scratch: FilterTally): boolean {
    return passes(NODE_FILTERS, node, this.ask, NO_USAGE, scratch) && passes(this.ask.capacityFilters, node, this.ask, usage.of(node.id), scratch);
  }

  private verdict(i: number, node: Node): NodeVerdict {
    let v = this.verdicts[i];
    if (v === undefined) {
      v = null;
      for (const f of NODE_FILTERS) {
        const r = f.check(node, this.ask, NO_USAGE);
        if (r !== undefined) {
          v = { filter: f, rejection: r };
          break;
        }
      }
      this.verdicts[i] = v;
    }
    return v;
  }
}
