import { newAllocId, type AllocId, type NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import { seededRng } from '../lib/rng.js';
import { schedule } from '../scheduler/index.js';
import type { Plan, SchedulerState } from '../scheduler/types.js';
import type { StateCache } from '../store/state.js';
import { newEvaluation } from './evals.js';
import { sameIntent } from './job-spec.js';
import { diffJobSpecs, type SpecDiffEntry } from './spec-diff.js';

/** What `karu plan` learns: what a submit would do to the job, and what the scheduler would do now. */
export interface JobPlan {
  /** The job as a submit would store it (version stamped). */
  job: Job;
  /** What a submit would answer. */
  result: 'created' | 'updated' | 'unchanged';
  /** The version stored now, if any. */
  currentVersion?: number;
  /** The stored job is stopped (`karu stop`): a submit starts it again. */
  currentStopped?: boolean;
  diff: SpecDiffEntry[];
  /** The scheduler's plan for a synthetic evaluation on the current state; nothing of it is written. */
  plan: Plan;
}

/**
 * A dry run of registering `input`: the same versioning rule as `Cluster.registerJob`,
 * then the pure scheduler on the read model with the candidate in place of the stored
 * job. Nothing is written, so two plans of the same file may differ only where the
 * cluster changed between them (and in the random choice among equal nodes).
 */
export async function planJob(cache: StateCache, listJobVersions: (ns: string, name: string) => Promise<Job[]>, input: Job, now: number): Promise<JobPlan> {
  const current = cache.job(input.namespace, input.name);
  const unchanged = current !== undefined && sameIntent(current, input);
  const version = !current ? 1 : unchanged ? current.version : current.version + 1;
  const job: Job = { ...input, version, stopped: false, submittedAt: now };
  const result = !current ? 'created' : unchanged && !current.stopped ? 'unchanged' : 'updated';

  // The scheduler needs older specs to tell an in-place update from a replacement.
  const needsHistory = cache.allocsByJob(job.namespace, job.name).some((a) => a.jobVersion !== job.version);
  const versions = new Map<number, Job>(needsHistory ? (await listJobVersions(job.namespace, job.name)).map((j) => [j.version, j]) : []);
  if (current) versions.set(current.version, current);
  const state: SchedulerState = {
    job: (ns, n) => (ns === job.namespace && n === job.name ? job : cache.job(ns, n)),
    nodes: () => cache.nodes(),
    node: (id) => cache.node(id),
    allocsByNode: (id) => cache.allocsByNode(id),
    allocsByJob: (ns, n) => cache.allocsByJob(ns, n),
    ...(cache.nodeUsage ? { nodeUsage: (id: NodeId) => cache.nodeUsage!(id), alloc: (id: AllocId) => cache.alloc(id) } : {}),
    jobVersion: (ns, n, v) => (ns === job.namespace && n === job.name ? (v === job.version ? job : versions.get(v)) : undefined),
  };
  const evaluation = newEvaluation(job.namespace, job.name, 'job-register', now);
  const plan = schedule(state, evaluation, { rng: seededRng(evaluation.id), now, newAllocId: () => newAllocId(now) });
  return { job, result, ...(current ? { currentVersion: current.version, currentStopped: current.stopped } : {}), diff: diffJobSpecs(current, job), plan };
}
