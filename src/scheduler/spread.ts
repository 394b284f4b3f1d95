import type { Spread } from '../core/job.js';
import type { Node } from '../core/node.js';
import { resolveTarget } from './constraints.js';
import type { JobCounts } from './job-counts.js';

/**
 * Spread blocks: place a group's allocations over the values of a node attribute in
 * proportion to targets. Each value `v` has a desired count `d(v)` out of the group's
 * `count`:
 *
 *   listed in `targets`      d = percent / 100 × count
 *   not listed               the remaining percent shared evenly by the other values
 *                            present on the group's feasible nodes
 *   no targets at all        count / (number of values present), i.e. even
 *
 * Only values present on feasible nodes can take allocations: when the targets of those
 * do not add up to `count` (a listed value no node has, a remainder no other value takes),
 * they are scaled so they do.
 *
 * A node with value `v`, where `u(v)` allocations of the group already are (the plan's
 * placements included), scores clamp(d(v) − u(v), −1, 1): +1 while `v` is one or more
 * allocations short, 0 at its target, −1 once over it; a node without the attribute
 * scores −1. Blocks are combined by their weights. Measured in allocations rather than
 * Nomad's relative (d − u) / d, so a value one short always beats a value already at its
 * target by a full point — with a weight-100 block (twice the fit's weight) that
 * outweighs any fit or anti-affinity difference, and targets are met within one
 * allocation whenever capacity allows (schedule.property.test.ts).
 */
export class SpreadScorer {
  private readonly blocks: { spread: Spread; desired: Map<string, number>; counts: ReadonlyMap<string, number> }[];
  private readonly totalWeight: number;

  /**
   * @param universe the nodes the group could run on (node-stage feasible), which fix the values that share the rest
   * @param counts the job's live counts; the group's per-value counts are read from it as placements are made
   */
  constructor(spreads: readonly Spread[], count: number, group: string, universe: readonly Node[], counts: JobCounts) {
    this.blocks = spreads.map((spread) => ({
      spread,
      desired: desiredCounts(spread, count, universe),
      counts: counts.perValue(spread.attribute, group),
    }));
    this.totalWeight = spreads.reduce((n, s) => n + Math.max(0, s.weight), 0);
  }

  /** The rankers' weight of the spread score (rank.ts): Σ block weights / 50, so weight 50 counts as much as the fit. */
  get weight(): number {
    return this.totalWeight / 50;
  }

  /** −1..1 for placing one more allocation on `node`. */
  score(node: Node): number {
    if (this.totalWeight === 0) return 0;
    let sum = 0;
    for (const b of this.blocks) {
      const v = resolveTarget(b.spread.attribute, node);
      const boost = v === undefined ? -1 : clamp((b.desired.get(v) ?? 0) - (b.counts.get(v) ?? 0));
      sum += boost * Math.max(0, b.spread.weight);
    }
    return sum / this.totalWeight;
  }
}

const clamp = (x: number) => Math.max(-1, Math.min(1, x));

/** Desired allocations per value of the block's attribute (see the class comment). */
export function desiredCounts(spread: Spread, count: number, universe: readonly Node[]): Map<string, number> {
  const present = new Set<string>();
  for (const n of universe) {
    const v = resolveTarget(spread.attribute, n);
    if (v !== undefined) present.add(v);
  }
  const desired = new Map<string, number>();
  if (spread.targets.length === 0) {
    for (const v of present) desired.set(v, count / present.size);
    return desired;
  }
  let listed = 0;
  for (const t of spread.targets) {
    desired.set(t.value, (t.percent / 100) * count);
    listed += t.percent;
  }
  const others = [...present].filter((v) => !desired.has(v));
  const rest = Math.max(0, 100 - listed);
  for (const v of others) desired.set(v, ((rest / 100) * count) / others.length);
  // Every allocation needs a home among the values present: when targets name values no
  // feasible node has, or leave a remainder no other value takes, scale the others up.
  let sum = 0;
  for (const v of present) sum += desired.get(v) ?? 0;
  if (sum > 0 && Math.abs(sum - count) > 1e-9) for (const v of present) desired.set(v, ((desired.get(v) ?? 0) * count) / sum);
  return desired;
}
