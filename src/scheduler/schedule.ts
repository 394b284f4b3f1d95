import type { Allocation } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { KaruError } from '../core/errors.js';
import { groupResources } from '../core/job.js';
import type { Group, Job } from '../core/job.js';
import { isSchedulable } from '../core/node.js';
import type { Node } from '../core/node.js';
import { CandidateWalk } from './candidates.js';
import { constraintHolds, isDistinctOperator } from './constraints.js';
import { askFor, FilterTally, NO_USAGE } from './feasibility.js';
import { placementFailure } from './failure.js';
import { JobCounts } from './job-counts.js';
import { assignPorts } from './ports.js';
import { MIN_PREEMPTION_SAMPLE, mayPreempt, Preemptor } from './preempt.js';
import type { PreemptionPick } from './preempt.js';
import { affinityScore, MAX_PENALISED_SKIPS, sampleLimit, scoreNode } from './rank.js';
import type { RankInput } from './rank.js';
import { reconcile } from './reconcile.js';
import type { PlacementRequest } from './reconcile.js';
import { SpreadScorer } from './spread.js';
import type { Plan, ScheduleContext, SchedulerState } from './types.js';
import { UsageTracker } from './usage.js';
import type { NodeUsage } from './usage.js';

/**
 * The scheduler: (snapshot, evaluation) → plan. Pure: no IO, time from `ctx.now`,
 * chance from `ctx.rng`, ids from `ctx.newAllocId`, so one seed replays one decision.
 *
 *   reconcile (what must change) → per group: node filters once → per placement:
 *   capacity filters (distinct_*, ports, cpu, memory) → rank (fit, anti-affinity,
 *   affinities, spread) → ports → allocation; nothing fits → preemption (service jobs)
 *
 * Placements see the plan's own earlier placements (and its stops and preemptions as
 * freed), so one plan never overcommits a node; the plan applier re-checks against
 * newer state.
 */
export function schedule(state: SchedulerState, evaluation: Evaluation, ctx: ScheduleContext): Plan {
  const plan: Plan = {
    evalId: evaluation.id,
    namespace: evaluation.namespace,
    jobName: evaluation.jobName,
    place: [],
    stop: [],
    markLost: [],
    inPlaceUpdate: [],
    failures: {},
  };
  const { job, groups } = reconcile(state, evaluation.namespace, evaluation.jobName, ctx.now);
  for (const b of groups.values()) {
    for (const s of b.stop) plan.stop.push({ allocId: s.alloc.id, reason: s.reason });
    for (const a of b.lost) plan.markLost.push(a.id);
    if (job) for (const a of b.inPlace) plan.inPlaceUpdate.push({ allocId: a.id, jobVersion: job.version });
  }
  if (job === undefined || job.stopped) return plan;
  if (![...groups.values()].some((b) => b.place.length > 0)) return plan;

  const stopping = new Set(plan.stop.map((s) => s.allocId));
  const usage = new UsageTracker(state, stopping);
  const plc: Placing = { usage, counts: new JobCounts(state, job, stopping), preemptor: new Preemptor(state, job) };
  // Sorted first so the shuffle, and so the plan, depends only on the seed and the
  // snapshot's contents, not on the order the read model happens to list nodes in.
  const nodes = ctx.rng.shuffle([...state.nodes()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  for (const group of job.groups) {
    const requests = groups.get(group.name)?.place ?? [];
    if (requests.length > 0) placeGroup(job, group, requests, nodes, plc, evaluation, ctx, plan);
  }
  return plan;
}

/** What the placements of one plan share across groups. */
interface Placing {
  usage: UsageTracker;
  /** Where the job's allocations are (distinct_*, spread). */
  counts: JobCounts;
  preemptor: Preemptor;
}

function placeGroup(
  job: Job,
  group: Group,
  requests: readonly PlacementRequest[],
  nodes: readonly Node[],
  { usage, counts, preemptor }: Placing,
  evaluation: Evaluation,
  ctx: ScheduleContext,
  plan: Plan,
): void {
  const ask = askFor(job, group, groupResources(group), counts);
  const walk = new CandidateWalk(nodes, ask);
  const affinities = [...(job.affinities ?? []), ...(group.affinities ?? [])].filter((a) => a.weight !== 0);
  const spreads = [...(job.spreads ?? []), ...(group.spreads ?? [])];
  const spread = spreads.length > 0 ? new SpreadScorer(spreads, group.count, group.name, walk.nodeStageFeasible(), counts) : undefined;
  const limit = sampleLimit(job, nodes.length, ctx.sampling, affinities.length > 0 || spread !== undefined);
  // Copies of this group per node (usage's `groups` under this group's key), from a small
  // per-plan map rather than each scored node's counts in the read model.
  const copies = counts.liveOnNodes(group.name);
  // A node's affinity score depends on the node alone: once per node per group.
  const affinityOf = new Map<Node, number>();
  const affinity = (node: Node): number => {
    let a = affinityOf.get(node);
    if (a === undefined) {
      a = affinityScore(affinities, node, (x, n) => !isDistinctOperator(x.operator) && constraintHolds(x, n));
      affinityOf.set(node, a);
    }
    return a;
  };

  // One ranking input, refilled per node: scoring allocates nothing per node.
  const spreadInput = { score: 0, weight: spread?.weight ?? 0 };
  const input: RankInput = { node: nodes[0]!, used: NO_USAGE.used, ask: ask.resources, strategy: job.placement, collisions: 0, groupCount: group.count };
  // The placement being ranked and its best node so far (one closure per group, not per placement).
  let best: Node | undefined;
  let bestScore = 0;
  const consider = (node: Node, u: NodeUsage): boolean => {
    const collisions = copies.get(node.id) ?? 0;
    input.node = node;
    input.used = u.used;
    input.collisions = collisions;
    if (affinities.length > 0) input.affinity = affinity(node);
    if (spread !== undefined) {
      spreadInput.score = spread.score(node);
      input.spread = spreadInput;
    }
    const score = scoreNode(input);
    ctx.onScore?.(node.id);
    // Strictly greater: ties go to the node met first.
    if (best === undefined || score > bestScore) {
      best = node;
      bestScore = score;
    }
    return collisions > 0 || node.id === input.avoidNodeId;
  };
  for (let i = 0; i < requests.length; i++) {
    const req = requests[i]!;
    const tally = new FilterTally();
    best = undefined;
    input.avoidNodeId = req.avoidNodeId;
    if (req.targetNodeId !== undefined) {
      // A rebalance move names its node: there or nowhere (the drainer drops a move that cannot be placed).
      const target = nodes.find((n) => n.id === req.targetNodeId);
      if (target !== undefined && walk.fits(target, usage, new FilterTally())) consider(target, usage.of(target.id));
    } else {
      // Score the first `limit` feasible nodes met; penalised ones (a few) do not use up the sample.
      let sampled = 0;
      let skipped = 0;
      walk.begin();
      for (let node = walk.next(usage, tally); node !== undefined; node = walk.next(usage, tally)) {
        if (consider(node, walk.lastUsage) && skipped < MAX_PENALISED_SKIPS) skipped++;
        else if (++sampled >= limit) break;
      }
    }
    if (best === undefined && req.targetNodeId !== undefined) continue;
    let preempted: PreemptionPick | undefined;
    if (best === undefined) {
      // Nothing fit, so the walk visited every node and the tally is complete. Nodes short
      // only of room may take the placement if lower-priority allocations make way.
      const maxNodes = ctx.sampling === 'full' ? Number.POSITIVE_INFINITY : Math.max(limit, MIN_PREEMPTION_SAMPLE);
      preempted = walk.resourceRejected.length > 0 ? preemptor.pick(walk.resourceRejected, ask, usage, maxNodes) : undefined;
      if (preempted === undefined) {
        // The rest of the group asks the same of the same nodes: it cannot fit either.
        const failure = placementFailure(requests.length - i, nodes.length, nodes.filter(isSchedulable).length, tally);
        if (mayPreempt(job) && preemptor.lastWithVictims > 0) {
          const n = preemptor.lastWithVictims;
          failure.explanations.push(`no preemption: stopping allocations of priority ≤ ${preemptor.maxVictimPriority} would not make room on ${n === 1 ? 'the 1 node' : `any of the ${n} nodes`} holding some`);
        }
        plan.failures[group.name] = failure;
        return;
      }
      for (const v of preempted.victims) usage.release(v);
      best = preempted.node;
    }
    const ports = assignPorts(group, best, usage.of(best.id).ports, ctx.rng);
    if (ports === undefined) {
      // The port filters passed this node, so this is a bug, not a full node.
      throw new KaruError('INTERNAL', `scheduler: ports vanished on node ${best.name} after the port filters passed`);
    }
    const alloc: Allocation = {
      id: ctx.newAllocId(),
      namespace: job.namespace,
      jobName: job.name,
      jobVersion: job.version,
      group: group.name,
      index: req.index,
      nodeId: best.id,
      nodeName: best.name,
      evalId: evaluation.id,
      resources: { ...ask.resources },
      ports,
      desiredStatus: 'run',
      desiredDescription: '',
      rescheduleTimes: [...req.rescheduleTimes],
      createdAt: ctx.now,
      modifiedAt: ctx.now,
    };
    if (req.previous !== undefined) alloc.previousAllocId = req.previous.id;
    plan.place.push(alloc);
    usage.add(alloc);
    counts.add(alloc);
    if (preempted !== undefined) {
      plan.preempt ??= [];
      preempted.victims.forEach((v, k) =>
        plan.preempt!.push({ allocId: v.id, namespace: v.namespace, jobName: v.jobName, priority: preempted.priorities[k]!, nodeId: v.nodeId, forAllocId: alloc.id }),
      );
    }
  }
}
