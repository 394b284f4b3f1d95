import type { Allocation, AllocStatus, AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Plan, PlanPreemption } from '../scheduler/types.js';
import { verifyPlan } from '../scheduler/index.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';
import { newEvaluation } from './evals.js';

export interface ApplyResult {
  placed: Allocation[];
  rejected: { alloc: Allocation; reason: string }[];
  /** Allocations of other jobs stopped to make room for `placed`. */
  preempted: PlanPreemption[];
  revision: number;
}

/** `desiredDescription` of a preempted allocation. */
export const preemptedDescription = (job: string, priority: number) => `preempted by job ${job} (priority ${priority})`;

/** The server-owned half of an allocation view (what lives under /allocs/). */
export function allocOf(view: AllocView): Allocation {
  const { clientStatus: _c, clientDescription: _d, taskStates: _t, ...alloc } = view;
  return alloc;
}

/**
 * The only writer of allocation placement (ARCHITECTURE invariant 4). Plans are applied
 * one at a time; each is re-checked against the newest state first, so schedulers that
 * worked from older snapshots can never overcommit a node. Placements that no longer fit
 * are rejected (the evaluation is retried); the rest of the plan commits atomically,
 * together with the evaluations' new status.
 */
export class PlanApplier {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger }) {}

  /** Serialised: concurrent calls queue behind each other. */
  apply(plan: Plan, evalUpdates: (ok: boolean) => Evaluation[]): Promise<ApplyResult> {
    const run = this.tail.then(() => this.applyNow(plan, evalUpdates));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyNow(plan: Plan, evalUpdates: (ok: boolean) => Evaluation[]): Promise<ApplyResult> {
    const { cache, stateStore, clock } = this.deps;
    const now = clock.now();
    const { ok, rejected, preempt } = verifyPlan(cache, plan);
    const writes: StateWrite[] = [];

    for (const alloc of ok) writes.push({ kind: 'alloc', value: alloc, expectedModRevision: 0 });

    // Preemptions of accepted placements, in the same commit: the victims stop, say why,
    // and their jobs are evaluated again (placed elsewhere, or blocked with the reason).
    const preempted: PlanPreemption[] = [];
    const priority = cache.job(plan.namespace, plan.jobName)?.priority ?? 0;
    const victimJobs = new Map<string, { namespace: string; name: string }>();
    for (const p of preempt) {
      const view = cache.alloc(p.allocId);
      if (!view || view.desiredStatus !== 'run') continue;
      const byJob = view.namespace === plan.namespace ? plan.jobName : `${plan.namespace}/${plan.jobName}`;
      writes.push({
        kind: 'alloc',
        value: {
          ...allocOf(view),
          desiredStatus: 'stop',
          desiredDescription: preemptedDescription(byJob, priority),
          preemptedBy: { byAllocId: p.forAllocId, byJob, byPriority: priority, at: now },
          modifiedAt: now,
        },
      });
      preempted.push(p);
      victimJobs.set(`${view.namespace}/${view.jobName}`, { namespace: view.namespace, name: view.jobName });
    }
    for (const j of victimJobs.values()) writes.push({ kind: 'eval', value: newEvaluation(j.namespace, j.name, 'preemption', now) });

    const lost = new Set(plan.markLost);
    for (const stop of plan.stop) {
      const view = cache.alloc(stop.allocId);
      if (!view) continue;
      if (view.desiredStatus !== 'stop') {
        writes.push({ kind: 'alloc', value: { ...allocOf(view), desiredStatus: 'stop', desiredDescription: stop.reason, modifiedAt: now } });
      }
    }
    for (const id of plan.markLost) {
      const view = cache.alloc(id);
      if (!view) continue;
      if (view.desiredStatus !== 'stop' && !plan.stop.some((s) => s.allocId === id)) {
        writes.push({ kind: 'alloc', value: { ...allocOf(view), desiredStatus: 'stop', desiredDescription: 'node lost', modifiedAt: now } });
      }
      // The node is gone, so nobody else can report for it: the one client field the server writes.
      const status: AllocStatus = {
        id: view.id,
        nodeId: view.nodeId,
        clientStatus: 'lost',
        clientDescription: 'the node stopped heartbeating',
        taskStates: view.taskStates,
        updatedAt: now,
      };
      writes.push({ kind: 'allocStatus', value: status });
    }
    for (const u of plan.inPlaceUpdate) {
      const view = cache.alloc(u.allocId);
      if (!view || lost.has(u.allocId)) continue;
      writes.push({ kind: 'alloc', value: { ...allocOf(view), jobVersion: u.jobVersion, modifiedAt: now } });
    }

    for (const e of evalUpdates(rejected.length === 0)) writes.push({ kind: 'eval', value: e });

    const revision = await stateStore.commit(writes);
    await cache.waitFor(revision);
    if (rejected.length > 0) {
      this.deps.logger.info({ evalId: plan.evalId, rejected: rejected.map((r) => r.reason) }, 'plan partly rejected; evaluation will be retried');
    }
    if (preempted.length > 0) {
      this.deps.logger.info({ evalId: plan.evalId, job: `${plan.namespace}/${plan.jobName}`, preempted: preempted.map((p) => p.allocId) }, 'allocations preempted');
    }
    return { placed: ok, rejected, preempted, revision };
  }
}
