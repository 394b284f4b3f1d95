import type { Evaluation } from '../core/evaluation.js';
import { newAllocId, splitJobKey, type AllocId, type JobKey, type NodeId } from '../core/ids.js';
import type { Clock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import type { Logger } from '../lib/logger.js';
import { schedule, describeFailure } from '../scheduler/index.js';
import type { StateCache, StateStore } from '../store/state.js';
import type { SchedulerState } from '../scheduler/types.js';
import type { PlanApplier } from './plan-applier.js';
import type { ReconcileResult } from './work-queue.js';

/**
 * Turns pending evaluations into plans, one job at a time (the work queue is keyed by
 * job, so evaluations of one job coalesce and never race each other). The scheduler is
 * level-based: it reads the job and its allocations as they are now, so however many
 * evaluations piled up, one scheduling pass answers them all.
 */
export class SchedulerWorker {
  constructor(private readonly deps: { cache: StateCache; stateStore: StateStore; applier: PlanApplier; clock: Clock; logger: Logger }) {}

  /**
   * The queue's priority of a job's key: the job's priority (1–100), so higher-priority
   * jobs are scheduled first; a purged job (its allocations only need stopping) gets the default.
   */
  priorityOf(key: JobKey): number {
    const { namespace, name } = splitJobKey(key);
    return this.deps.cache.job(namespace, name)?.priority ?? DEFAULT_JOB_PRIORITY;
  }

  /**
   * The read model plus the job's older versions, loaded only when some allocation runs
   * one: the scheduler needs the old spec to tell an in-place update from a restart.
   */
  private async withJobVersions(namespace: string, name: string): Promise<SchedulerState> {
    const { cache, stateStore } = this.deps;
    const current = cache.job(namespace, name);
    const needsHistory = current && cache.allocsByJob(namespace, name).some((a) => a.jobVersion !== current.version);
    if (!needsHistory) return cache;
    const versions = new Map((await stateStore.listJobVersions(namespace, name)).map((j) => [j.version, j]));
    return {
      job: (ns, n) => cache.job(ns, n),
      nodes: () => cache.nodes(),
      node: (id) => cache.node(id),
      allocsByNode: (id) => cache.allocsByNode(id),
      allocsByJob: (ns, n) => cache.allocsByJob(ns, n),
      ...(cache.nodeUsage ? { nodeUsage: (id: NodeId) => cache.nodeUsage!(id), alloc: (id: AllocId) => cache.alloc(id) } : {}),
      jobVersion: (ns, n, v) => (ns === namespace && n === name ? versions.get(v) : undefined),
    };
  }

  async reconcile(key: JobKey): Promise<ReconcileResult | void> {
    const { cache, clock, applier, logger } = this.deps;
    const { namespace, name } = splitJobKey(key);
    const evals = cache.evals({ namespace, jobName: name });
    const pending = evals.filter((e) => e.status === 'pending').sort(byCreated);
    if (pending.length === 0) return;
    const primary = pending[pending.length - 1]!;
    const now = clock.now();
    const state = await this.withJobVersions(namespace, name);
    const plan = schedule(state, primary, {
      // Seeded from the evaluation, so a surprising placement can be replayed.
      rng: seededRng(primary.id),
      now,
      newAllocId: () => newAllocId(now),
    });
    const failed = Object.keys(plan.failures);
    const previouslyBlocked = evals.filter((e) => e.status === 'blocked');

    const result = await applier.apply(plan, (ok) => {
      if (!ok) return [];
      // Stamped as the plan commits (not when scheduling began), so createdAt → modifiedAt
      // is the evaluation's whole latency: queue wait, scheduling and the applier.
      const done = clock.now();
      const updates: Evaluation[] = [];
      for (const e of pending) {
        if (e === primary) continue;
        updates.push({ ...e, status: 'complete', statusDescription: `coalesced into ${primary.id}`, modifiedAt: done });
      }
      for (const e of previouslyBlocked) {
        updates.push({ ...e, status: 'cancelled', statusDescription: `superseded by ${primary.id}`, modifiedAt: done });
      }
      updates.push(
        failed.length > 0
          ? {
              ...primary,
              status: 'blocked',
              statusDescription: failed.map((g) => `group ${g}: ${describeFailure(plan.failures[g]!)}`).join('; '),
              failedPlacements: plan.failures,
              modifiedAt: done,
            }
          : { ...primary, status: 'complete', statusDescription: summarize(plan.place.length, plan.stop.length, plan.preempt?.length ?? 0), failedPlacements: {}, modifiedAt: done },
      );
      return updates;
    });

    logger.debug({ evalId: primary.id, job: key, placed: result.placed.length, stopped: plan.stop.length, preempted: result.preempted.length, blocked: failed }, 'evaluation processed');
    // Some placements lost a race with a newer state: schedule again from that state.
    if (result.rejected.length > 0) return { requeueAfterMs: 0 };
  }
}

const byCreated = (a: Evaluation, b: Evaluation) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1);

/** Job priority when none is known (core/job.ts: 1–100, default 50). */
const DEFAULT_JOB_PRIORITY = 50;

function summarize(placed: number, stopped: number, preempted: number): string {
  if (placed === 0 && stopped === 0) return 'nothing to change';
  return [placed && `placed ${placed}`, stopped && `stopped ${stopped}`, preempted && `preempted ${preempted}`].filter(Boolean).join(', ');
}
