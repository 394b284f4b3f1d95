import { Hono } from 'hono';
import { allocName, type AllocView } from '../../core/alloc.js';
import type { AllocId } from '../../core/ids.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import { planJob, type JobPlan } from '../../controllers/job-plan.js';
import type { StateCache } from '../../store/state.js';
import type { PlanJobResponse, PlannedAlloc, PlannedPlacement } from '../../client/plan-types.js';
import type { ApiDeps } from '../deps.js';
import { parseJsonBody, registerJobBody } from '../schemas.js';

/**
 * POST /v1/jobs/plan: `karu plan`. The body is checked exactly as a submit's, then the
 * scheduler runs on the read model with a synthetic evaluation. Nothing is written.
 */
export function planRoutes({ controlPlane: cp, validateJob }: ApiDeps, clock: Clock = systemClock) {
  return new Hono().post('/jobs/plan', async (c) => {
    const body = await parseJsonBody(c, registerJobBody);
    const job = validateJob(body.job);
    const dry = await planJob(cp.state, (ns, name) => cp.listJobVersions(ns, name), job, clock.now());
    return c.json(planView(cp.state, dry));
  });
}

/** The plan in people's terms: names instead of bare ids, placements counted per node. */
export function planView(state: StateCache, dry: JobPlan): PlanJobResponse {
  const { plan } = dry;
  const existing = (id: AllocId): AllocView | undefined => state.alloc(id);
  const described = (id: AllocId, reason?: string): PlannedAlloc => {
    const a = existing(id);
    return { allocId: id, name: a ? allocName(a) : id, nodeName: a?.nodeName ?? '?', ...(reason !== undefined ? { reason } : {}) };
  };
  const perNode = new Map<string, PlannedPlacement>();
  for (const a of plan.place) {
    const key = `${a.group}\0${a.nodeId}`;
    let p = perNode.get(key);
    if (!p) perNode.set(key, (p = { group: a.group, nodeId: a.nodeId, nodeName: a.nodeName, count: 0, indexes: [] }));
    p.count++;
    p.indexes.push(a.index);
  }
  for (const p of perNode.values()) p.indexes.sort((x, y) => x - y);
  const placed = new Map(plan.place.map((a) => [a.id, a]));
  return {
    job: dry.job,
    result: dry.result,
    ...(dry.currentVersion !== undefined ? { currentVersion: dry.currentVersion } : {}),
    ...(dry.currentStopped ? { currentStopped: true } : {}),
    diff: dry.diff,
    place: [...perNode.values()].sort((a, b) => a.group.localeCompare(b.group) || a.nodeName.localeCompare(b.nodeName)),
    stop: plan.stop.map((s) => described(s.allocId, s.reason)),
    inPlaceUpdate: plan.inPlaceUpdate.map((u) => described(u.allocId)),
    markLost: plan.markLost.map((id) => described(id)),
    preempt: (plan.preempt ?? []).map((p) => {
      const target = placed.get(p.forAllocId);
      return {
        ...described(p.allocId),
        namespace: p.namespace,
        jobName: p.jobName,
        priority: p.priority,
        nodeId: p.nodeId,
        forName: target ? allocName(target) : p.forAllocId,
      };
    }),
    failures: plan.failures,
    fits: Object.keys(plan.failures).length === 0,
  };
}
