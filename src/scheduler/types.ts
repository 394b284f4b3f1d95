import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Allocation, AllocView } from '../core/alloc.js';
import type { Evaluation, PlacementFailure } from '../core/evaluation.js';
import type { Rng } from '../lib/rng.js';

/**
 * What the scheduler may read: a consistent snapshot, nothing else. The StateCache
 * satisfies it; tests build one from plain arrays.
 */
export interface SchedulerState {
  job(namespace: string, name: string): Job | undefined;
  nodes(): readonly Node[];
  node(id: NodeId): Node | undefined;
  allocsByNode(nodeId: NodeId): readonly AllocView[];
  allocsByJob(namespace: string, name: string): readonly AllocView[];
  /**
   * A past version of a job, to tell an in-place update from one that needs new
   * containers. Optional: without it every version change replaces the allocations.
   */
  jobVersion?(namespace: string, name: string, version: number): Job | undefined;
  /**
   * What the live allocations on a node hold, kept incrementally by the read model, so a
   * plan costs O(placements) instead of O(allocations on the nodes it touches). Optional
   * (with `alloc`): without them the scheduler sums `allocsByNode`. Read synchronously.
   */
  nodeUsage?(nodeId: NodeId): NodeUsageSnapshot;
  /** One allocation by id (with `nodeUsage`: to subtract the allocations a plan stops). */
  alloc?(id: AllocId): AllocView | undefined;
}

/** The sum over a node's live allocations (`isLive`): what `nodeUsage` answers. */
export interface NodeUsageSnapshot {
  readonly cpuMhz: number;
  readonly memoryMb: number;
  /** Host ports held by live allocations. */
  readonly ports: ReadonlySet<number>;
  /** Live allocations per `namespace/job/group` (usage.ts `groupKey`). */
  readonly groups: ReadonlyMap<string, number>;
}

export interface ScheduleContext {
  rng: Rng;
  now: number;
  /** Ids for new allocations; injected so tests are deterministic. */
  newAllocId: () => AllocId;
  /**
   * 'limited' (default): score only a sample of the feasible nodes (`rank.sampleLimit`);
   * 'full': score every feasible node (tests, the placement-quality bench).
   */
  sampling?: Sampling;
  /** Test hook: called for every node scored, to count the sample. */
  onScore?: (nodeId: NodeId) => void;
}

/** How many feasible nodes a placement scores: a bounded sample or all of them. */
export type Sampling = 'limited' | 'full';

/**
 * The scheduler's answer for one evaluation: what to start, what to stop, and whether
 * anything could not be placed (then the evaluation becomes blocked with `failures`).
 */
export interface Plan {
  evalId: EvalId;
  namespace: string;
  jobName: string;
  /** New allocations, node and ports already chosen. */
  place: Allocation[];
  /** Allocations whose desired status becomes `stop`. */
  stop: PlanStop[];
  /** Allocations on lost nodes that the server marks `lost` on the agent's behalf. */
  markLost: AllocId[];
  /** Existing allocations to carry to the new job version without restarting them. */
  inPlaceUpdate: { allocId: AllocId; jobVersion: number }[];
  /** Per group: what could not be placed and why. Empty when everything fit. */
  failures: Record<string, PlacementFailure>;
  /**
   * Lower-priority allocations of other jobs stopped to make room for `place` (issue 5).
   * The applier stops them (desired `stop`, `preemptedBy` set) in the same commit and
   * re-evaluates their jobs. Absent or empty: none.
   */
  preempt?: PlanPreemption[];
}

export interface PlanPreemption {
  allocId: AllocId;
  namespace: string;
  jobName: string;
  priority: number;
  nodeId: NodeId;
  /** The new allocation it makes room for (one of `place`). */
  forAllocId: AllocId;
}

export interface PlanStop {
  allocId: AllocId;
  reason: string;
}

export type Scheduler = (state: SchedulerState, evaluation: Evaluation, ctx: ScheduleContext) => Plan;
