import { isClientTerminal, isLive, type AllocView, type ClientStatus } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { jobTotalCount, type Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { addResources, noResources } from '../core/resources.js';
import type { AllocSummary, JobListEntry, JobStatus, NodeView } from '../client/types.js';

/**
 * Pure read-side projections: what the API shows for jobs and nodes, computed from the
 * read model's objects. No IO here, so each rule is testable on its own.
 */

/** Evaluations shown in a job's detail. */
export const MAX_JOB_EVALS = 20;

/**
 * running: some allocation is running. dead: stopped with nothing live, or a batch job
 * whose allocations have all finished. pending: anything else (nothing placed or started yet).
 */
export function jobStatus(job: Job, allocs: readonly AllocView[]): JobStatus {
  if (allocs.some((a) => a.clientStatus === 'running')) return 'running';
  if (job.stopped && !allocs.some(isLive)) return 'dead';
  if (job.type === 'batch' && allocs.length > 0 && allocs.every((a) => isClientTerminal(a.clientStatus))) return 'dead';
  return 'pending';
}

/**
 * Counts by client status. Pending and running count only allocations meant to run (a
 * stopping one is not "running" in the job's eyes); terminal states count every
 * allocation, so failures stay visible after they are replaced.
 * `desired` is the sum of group counts, 0 once the job is stopped.
 */
export function allocSummary(job: Job, allocs: readonly AllocView[]): AllocSummary {
  const s: AllocSummary = { pending: 0, running: 0, complete: 0, failed: 0, lost: 0, desired: job.stopped ? 0 : jobTotalCount(job) };
  for (const a of allocs) {
    if (isClientTerminal(a.clientStatus) || a.desiredStatus === 'run') s[a.clientStatus satisfies ClientStatus] += 1;
  }
  return s;
}

export function jobListEntry(job: Job, allocs: readonly AllocView[]): JobListEntry {
  return {
    namespace: job.namespace,
    name: job.name,
    type: job.type,
    version: job.version,
    stopped: job.stopped,
    status: jobStatus(job, allocs),
    summary: allocSummary(job, allocs),
    submittedAt: job.submittedAt,
  };
}

/** `allocated` sums the resources of live allocations; `total` counts live ones. */
export function nodeView(node: Node, allocs: readonly AllocView[]): NodeView {
  let allocated = noResources();
  let running = 0;
  let total = 0;
  for (const a of allocs) {
    if (!isLive(a)) continue;
    allocated = addResources(allocated, a.resources);
    total += 1;
    if (a.clientStatus === 'running') running += 1;
  }
  return { ...node, allocations: { running, total }, allocated };
}

/** Newest first; ids are time-sortable, so they break ties the same way. */
export function newestAllocsFirst(allocs: readonly AllocView[]): AllocView[] {
  return [...allocs].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function newestEvalsFirst(evals: readonly Evaluation[]): Evaluation[] {
  return [...evals].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function byJobKey(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);
}
