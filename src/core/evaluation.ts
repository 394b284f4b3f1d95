import type { EvalId, NodeId } from './ids.js';

/**
 * "Something changed for job J: reconsider it." The scheduler turns an evaluation into a
 * plan; when some of it could not be placed the evaluation is `blocked` with reasons, and
 * is retried when capacity frees up or a node joins.
 */
export interface Evaluation {
  id: EvalId;
  namespace: string;
  jobName: string;
  triggeredBy: EvalTrigger;
  status: EvalStatus;
  statusDescription: string;
  /** For node-triggered evaluations. */
  nodeId?: NodeId;
  /** Per group that could not be placed in full: why. */
  failedPlacements: Record<string, PlacementFailure>;
  /** For a blocked evaluation, the one that blocked it. */
  previousEvalId?: EvalId;
  createdAt: number;
  modifiedAt: number;
}

export type EvalTrigger =
  | 'job-register'
  | 'job-deregister'
  | 'node-update'
  | 'alloc-failure'
  | 'alloc-stop'
  /** An allocation of the job was preempted by a higher-priority job: place it again. */
  | 'preemption'
  | 'retry-blocked'
  | 'node-drain'
  | 'rebalance'
  | 'manual';

/** pending → complete | blocked | failed; blocked → cancelled when a newer eval supersedes it. */
export type EvalStatus = 'pending' | 'blocked' | 'complete' | 'failed' | 'cancelled';

/**
 * Why placements failed, per filter, in numbers a person can read:
 * "3 nodes evaluated: 2 not enough memory (needs 512 MB, most free 300 MB), 1 draining".
 */
export interface PlacementFailure {
  /** Allocations that could not be placed. */
  unplaced: number;
  nodesEvaluated: number;
  nodesAvailable: number;
  /** Count of nodes removed by each filter, keyed by reason constant. */
  filtered: Record<string, number>;
  /** One line per reason, e.g. "2 nodes: not enough memory (needs 512 MB, most free 300 MB)". */
  explanations: string[];
}
