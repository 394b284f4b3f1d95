import type { Evaluation, EvalTrigger } from '../core/evaluation.js';
import { newEvalId, type NodeId } from '../core/ids.js';
import type { StateCache } from '../store/state.js';

export function newEvaluation(namespace: string, jobName: string, triggeredBy: EvalTrigger, now: number, extra: Partial<Evaluation> = {}): Evaluation {
  return {
    id: newEvalId(now),
    namespace,
    jobName,
    triggeredBy,
    status: 'pending',
    statusDescription: '',
    failedPlacements: {},
    createdAt: now,
    modifiedAt: now,
    ...extra,
  };
}

/** One evaluation per job that has allocations on `nodeId` still meant to run. */
export function evalsForJobsOnNode(cache: StateCache, nodeId: NodeId, trigger: EvalTrigger, now: number): Evaluation[] {
  const jobs = new Map<string, { namespace: string; name: string }>();
  for (const a of cache.allocsByNode(nodeId)) {
    if (a.desiredStatus !== 'run') continue;
    jobs.set(`${a.namespace}/${a.jobName}`, { namespace: a.namespace, name: a.jobName });
  }
  return [...jobs.values()].map((j) => newEvaluation(j.namespace, j.name, trigger, now, { nodeId }));
}
