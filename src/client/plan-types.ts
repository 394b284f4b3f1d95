import type { AllocId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { PlacementFailure } from '../core/evaluation.js';

/**
 * POST /v1/jobs/plan — the body is a job as for POST /v1/jobs (`{ job }`), checked the
 * same way (same errors); the answer is a dry run: nothing is stored, no evaluation is made.
 */
export interface PlanJobResponse {
  /** The job as a submit would store it (version stamped). */
  job: Job;
  /** What a submit would answer. */
  result: 'created' | 'updated' | 'unchanged';
  /** The version stored now; absent for a new job. */
  currentVersion?: number;
  /** The stored job is stopped: a submit starts it again. */
  currentStopped?: boolean;
  /** The spec's differences to the stored version (empty when unchanged or new). */
  diff: PlanDiffEntry[];
  /** New allocations, grouped per group and node. */
  place: PlannedPlacement[];
  /** Allocations of this job that would be stopped. */
  stop: PlannedAlloc[];
  /** Allocations carried to the new version without a restart. */
  inPlaceUpdate: PlannedAlloc[];
  /** Allocations on lost nodes that would be marked lost. */
  markLost: PlannedAlloc[];
  /** Lower-priority allocations of other jobs stopped to make room. */
  preempt: PlannedPreemption[];
  /** Per group: what could not be placed and why. Empty when everything fits. */
  failures: Record<string, PlacementFailure>;
  /** True when every placement fits (no failures). */
  fits: boolean;
}

/** `~ groups[web].count: 2 → 3`, `+ groups[web].services[web]`. Values are absent where hidden (env). */
export interface PlanDiffEntry {
  op: 'add' | 'remove' | 'change';
  path: string;
  before?: unknown;
  after?: unknown;
}

export interface PlannedPlacement {
  group: string;
  nodeId: NodeId;
  nodeName: string;
  count: number;
  /** Group indexes placed there, ascending. */
  indexes: number[];
}

export interface PlannedAlloc {
  allocId: AllocId;
  /** `job.group[index]`. */
  name: string;
  nodeName: string;
  /** Why (stops). */
  reason?: string;
}

export interface PlannedPreemption extends PlannedAlloc {
  namespace: string;
  jobName: string;
  priority: number;
  nodeId: NodeId;
  /** The new allocation it makes room for: `job.group[index]`. */
  forName: string;
}
