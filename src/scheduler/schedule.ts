import type { Allocation } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { KaruError } from '../core/errors.js';
import { groupResources } from '../core/job.js';
import type { Group, Job } from '../core/job.js';
import { isSchedulable } from '../core/node.js';
import type { Node } from '../core/node.js';
import { CandidateWalk } from './candidates.js';
import { askFor, FilterTally } from './feasibility.js';
import { placementFailure } from './failure.js';
import { assignPorts } from './ports.js';
import { MAX_PENALISED_SKIPS, sampleLimit, scoreNode } from './rank.js';
import { reconcile } from './reconcile.js';
import type { PlacementRequest } from './reconcile.js';
import type { Plan, ScheduleContext, SchedulerState } from './types.js';
import { groupKey, UsageTracker } from './usage.js';

/**
 * The scheduler: (snapshot, evaluation) → plan. Pure: no IO, time from `ctx.now`,
 * chance from `ctx.rng`, ids from `ctx.newAllocId`, so one seed replays one decision.
 *
 *   reconcile (what must change) → per group: node filters once → per placement:
 *   capacity filters → rank → ports → allocation
 *
 * Placements see the plan's own earlier placements (and its stops as freed), so one
 * plan never overcommits a node; the plan applier re-checks against newer state.
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

  const usage = new UsageTracker(state, new Set(plan.stop.map((s) => s.allocId)));
  // Sorted first so the shuffle, and so the plan, depends only on the seed and the
  // snapshot's contents, not on the order the read model happens to list nodes in.
  const nodes = ctx.rng.shuffle([...state.nodes()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  for (const group of job.groups) {
    const requests = groups.get(group.name)?.place ?? [];
    if (requests.length > 0) placeGroup(job, group, requests, nodes, usage, evaluation, ctx, plan);
  }
  return plan;
}

function placeGroup(
  job: Job,
  group: Group,
  requests: readonly PlacementRequest[],
  nodes: readonly Node[],
  usage: UsageTracker,
  evaluation: Evaluation,
  ctx: ScheduleContext,
  plan: Plan,
): void {
  const ask = askFor(job, group, groupResources(group));
  const walk = new CandidateWalk(nodes, ask);
  const limit = sampleLimit(job, nodes.length, ctx.sampling);
  const key = groupKey({ namespace: job.namespace, jobName: job.name, group: group.name });

  for (let i = 0; i < requests.length; i++) {
    const req = requests[i]!;
    const tally = new FilterTally();
    let best: { node: Node; score: number } | undefined;
    const consider = (node: Node): boolean => {
      const u = usage.of(node.id);
      const collisions = u.groups.get(key) ?? 0;
      const score = scoreNode({
        node,
        used: u.used,
        ask: ask.resources,
        strategy: job.placement,
        collisions,
        groupCount: group.count,
        ...(req.avoidNodeId !== undefined ? { avoidNodeId: req.avoidNodeId } : {}),
      });
      ctx.onScore?.(node.id);
      // Strictly greater: ties go to the node met first.
      if (best === undefined || score > best.score) best = { node, score };
      return collisions > 0 || node.id === req.avoidNodeId;
    };
    if (req.targetNodeId !== undefined) {
      // A rebalance move names its node: there or nowhere (the drainer drops a move that cannot be placed).
      const target = nodes.find((n) => n.id === req.targetNodeId);
      if (target !== undefined && walk.fits(target, usage, new FilterTally())) consider(target);
    } else {
      // Score the first `limit` feasible nodes met; penalised ones (a few) do not use up the sample.
      let sampled = 0;
      let skipped = 0;
      walk.begin();
      for (let node = walk.next(usage, tally); node !== undefined; node = walk.next(usage, tally)) {
        if (consider(node) && skipped < MAX_PENALISED_SKIPS) skipped++;
        else if (++sampled >= limit) break;
      }
    }
    if (best === undefined && req.targetNodeId !== undefined) continue;
    if (best === undefined) {
      // The rest of the group asks the same of the same nodes: it cannot fit either.
      // Nothing fit, so the walk visited every node and the tally is complete.
      plan.failures[group.name] = placementFailure(requests.length - i, nodes.length, nodes.filter(isSchedulable).length, tally);
      return;
    }
    const ports = assignPorts(group, best.node, usage.of(best.node.id).ports, ctx.rng);
    if (ports === undefined) {
      // The port filters passed this node, so this is a bug, not a full node.
      throw new KaruError('INTERNAL', `scheduler: ports vanished on node ${best.node.name} after the port filters passed`);
    }
    const alloc: Allocation = {
      id: ctx.newAllocId(),
      namespace: job.namespace,
      jobName: job.name,
      jobVersion: job.version,
      group: group.name,
      index: req.index,
      nodeId: best.node.id,
      nodeName: best.node.name,
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
  }
}
