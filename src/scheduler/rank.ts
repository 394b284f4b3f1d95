import type { NodeId } from '../core/ids.js';
import type { Job, PlacementStrategy } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Resources } from '../core/resources.js';
import type { Sampling } from './types.js';

/**
 * Ranking: among feasible nodes, which is best for one allocation. Higher is better.
 *
 *   score = fit (0..1, by strategy)
 *         − ANTI_AFFINITY_WEIGHT × (allocs of this job+group already on the node) / count
 *         − RESCHEDULE_PENALTY if the replaced allocation failed on this node
 *
 * The fit is Nomad's: with f = free fraction after placement of cpu and of memory,
 * binpack scores (20 − (10^f_cpu + 10^f_mem)) / 18, high when the node ends up full, and
 * spread scores the mirror image (10^f_cpu + 10^f_mem − 2) / 18. The exponent makes the
 * last free slice of a node count most, so binpack closes nodes off instead of leaving
 * every node a little free.
 */

/** Per copy of the same group already on the node, scaled by the group's count. */
export const ANTI_AFFINITY_WEIGHT = 1;
/** Larger than any fit difference: the failed node is picked only when nothing else fits. */
export const RESCHEDULE_PENALTY = 1;

export interface RankInput {
  node: Node;
  /** In use on the node before this placement. */
  used: Resources;
  ask: Resources;
  strategy: PlacementStrategy;
  /** Copies of the same job+group already on the node (live or placed by this plan). */
  collisions: number;
  /** The group's count: anti-affinity weighs less for large groups, which must share nodes. */
  groupCount: number;
  /** The node where the allocation being replaced failed. */
  avoidNodeId?: NodeId;
}

/** 0..1: how well `usedAfter` fits `total` under the strategy (see the formula above). */
export function fitScore(total: Resources, usedAfter: Resources, strategy: PlacementStrategy): number {
  const fCpu = freeFraction(total.cpuMhz, usedAfter.cpuMhz);
  const fMem = freeFraction(total.memoryMb, usedAfter.memoryMb);
  const sum = 10 ** fCpu + 10 ** fMem;
  return strategy === 'spread' ? (sum - 2) / 18 : (20 - sum) / 18;
}

function freeFraction(total: number, used: number): number {
  // A dimension the node does not offer (0) cannot tell nodes apart: count it as full.
  if (total <= 0) return 0;
  return Math.min(1, Math.max(0, 1 - used / total));
}

/** The node's score for one placement; higher is better, may be negative. */
export function scoreNode(r: RankInput): number {
  const after = { cpuMhz: r.used.cpuMhz + r.ask.cpuMhz, memoryMb: r.used.memoryMb + r.ask.memoryMb };
  let score = fitScore(r.node.resources, after, r.strategy);
  if (r.collisions > 0) score -= (ANTI_AFFINITY_WEIGHT * r.collisions) / Math.max(1, r.groupCount);
  if (r.avoidNodeId !== undefined && r.node.id === r.avoidNodeId) score -= RESCHEDULE_PENALTY;
  return score;
}

/**
 * How many feasible nodes to score before picking the best (Nomad's LimitIterator idea):
 * 2 for batch jobs, max(2, ⌈log2 nodes⌉) for services, all of them for a full scan.
 * Nodes are walked in a seeded random order, so the first `limit` feasible ones are a
 * fair sample, and a placement costs O(limit) rather than O(nodes) when many nodes fit.
 */
export function sampleLimit(job: Job, nodeCount: number, sampling: Sampling = 'limited'): number {
  if (sampling === 'full') return Number.POSITIVE_INFINITY;
  if (job.type === 'batch') return 2;
  return Math.max(2, Math.ceil(Math.log2(Math.max(1, nodeCount))));
}

/**
 * Penalised nodes (anti-affinity, failed-node penalty) met while sampling that do not use
 * up the sample (Nomad's maxSkip): they still compete, but up to this many of them make
 * the walk go on looking for an unpenalised node.
 */
export const MAX_PENALISED_SKIPS = 3;
