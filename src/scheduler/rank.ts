import type { NodeId } from '../core/ids.js';
import type { Affinity, Job, PlacementStrategy } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Resources } from '../core/resources.js';
import type { Sampling } from './types.js';

/**
 * Ranking: among feasible nodes, which is best for one allocation. Higher is better.
 * Each ranker gives a score in −1..1 and the node's score is their weighted average
 * (Nomad's score normalisation):
 *
 *   fit           0..1 by strategy                                          weight 1
 *   anti-affinity −ANTI_AFFINITY_WEIGHT × (copies of this job+group on the node) / count   1
 *   reschedule    −RESCHEDULE_PENALTY on the node where the replaced one failed   1 (when replacing a failure)
 *   affinity      Σ weights of the affinities the node matches / Σ |weights|  1 (when the job has affinities)
 *   spread        spread.ts                                                 Σ spread weights / 50
 *
 * Unlike Nomad, a ranker that applies to the placement counts in the denominator on every
 * node, also where it scores 0: a node is never lifted by a shorter average (Nomad leaves
 * out a zero affinity, so a node matching nothing can outrank one matching half the
 * weight), and every node of one placement is averaged over the same rankers.
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
  /** The node's affinity score (−1..1, `affinityScore`); absent when the job has no affinities. */
  affinity?: number;
  /** The node's spread score (−1..1) and the rankers' weight of it; absent without spread blocks. */
  spread?: { score: number; weight: number };
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

/** The node's score for one placement (the weighted average above); higher is better, may be negative. */
export function scoreNode(r: RankInput): number {
  const after = { cpuMhz: r.used.cpuMhz + r.ask.cpuMhz, memoryMb: r.used.memoryMb + r.ask.memoryMb };
  let sum = fitScore(r.node.resources, after, r.strategy);
  let weight = 1;
  sum -= (ANTI_AFFINITY_WEIGHT * r.collisions) / Math.max(1, r.groupCount);
  weight += 1;
  if (r.avoidNodeId !== undefined) {
    if (r.node.id === r.avoidNodeId) sum -= RESCHEDULE_PENALTY;
    weight += 1;
  }
  if (r.affinity !== undefined) {
    sum += r.affinity;
    weight += 1;
  }
  if (r.spread !== undefined && r.spread.weight > 0) {
    sum += r.spread.score * r.spread.weight;
    weight += r.spread.weight;
  }
  return sum / weight;
}

/**
 * −1..1: the weights of the affinities `node` matches over the sum of their absolute
 * weights (Nomad's node-affinity score). A negative weight is an anti-affinity: matching
 * it lowers the score. `matches` is `constraintHolds` on the affinity's operator.
 */
export function affinityScore(affinities: readonly Affinity[], node: Node, matches: (a: Affinity, node: Node) => boolean): number {
  let total = 0;
  let matched = 0;
  for (const a of affinities) {
    total += Math.abs(a.weight);
    if (matches(a, node)) matched += a.weight;
  }
  return total === 0 ? 0 : matched / total;
}

/**
 * How many feasible nodes to score before picking the best (Nomad's LimitIterator idea):
 * 2 for batch jobs, max(2, ⌈log2 nodes⌉) for services, all of them for a full scan.
 * Nodes are walked in a seeded random order, so the first `limit` feasible ones are a
 * fair sample, and a placement costs O(limit) rather than O(nodes) when many nodes fit.
 * `preferences`: the group has affinities or spread blocks.
 */
export function sampleLimit(job: Job, nodeCount: number, sampling: Sampling = 'limited', preferences = false): number {
  // Affinities and spreads prefer particular nodes, which a small random sample would
  // mostly miss: score every feasible node (as Nomad does). Their inputs are per-plan maps,
  // so this costs O(nodes) per placement, not O(nodes × allocations).
  if (sampling === 'full' || preferences) return Number.POSITIVE_INFINITY;
  if (job.type === 'batch') return 2;
  return Math.max(2, Math.ceil(Math.log2(Math.max(1, nodeCount))));
}

/**
 * Penalised nodes (anti-affinity, failed-node penalty) met while sampling that do not use
 * up the sample (Nomad's maxSkip): they still compete, but up to this many of them make
 * the walk go on looking for an unpenalised node.
 */
export const MAX_PENALISED_SKIPS = 3;
