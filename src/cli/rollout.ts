import type { JobDetail } from '../client/types.js';
import type { AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import { jobTotalCount } from '../core/job.js';

/** Which submission we are watching: the job version the server gave it, and its evaluation. */
export interface RolloutTarget {
  version: number;
  evalId?: string;
}

/** Where a rollout stands, judged from one read of the job. */
export type Rollout =
  | { phase: 'waiting'; allocs: AllocView[]; done: number; want: number }
  | { phase: 'done'; allocs: AllocView[]; done: number; want: number }
  | { phase: 'failed'; allocs: AllocView[]; failed: AllocView[] }
  | { phase: 'blocked'; allocs: AllocView[]; evaluation: Evaluation }
  | { phase: 'superseded'; allocs: AllocView[]; version: number };

/**
 * Judges a rollout from the job's current state (level-based: the same state always gives
 * the same answer, so a missed poll changes nothing).
 *
 * - done: every allocation the new version wants is running (batch: complete);
 * - failed: an allocation of the new version failed;
 * - blocked: the newest evaluation since ours could not place everything;
 * - superseded: someone submitted a newer version meanwhile.
 */
export function judgeRollout(detail: JobDetail, target: RolloutTarget): Rollout {
  // The version's allocations the server wants running, and those that ended since this
  // submission (failed, or complete for batch). Older ones that ended are history: a job
  // stopped and submitted again keeps its version and its dead allocations.
  const ours = target.evalId ? detail.evaluations.find((e) => e.id === target.evalId) : undefined;
  const since = ours?.createdAt ?? detail.job.submittedAt;
  const allocs = detail.allocations
    .filter((a) => a.jobVersion === target.version && (a.desiredStatus === 'run' || a.createdAt >= since))
    .sort((a, b) => a.group.localeCompare(b.group) || a.index - b.index || a.createdAt - b.createdAt);
  if (detail.job.version > target.version) return { phase: 'superseded', allocs, version: detail.job.version };

  const failed = allocs.filter((a) => a.clientStatus === 'failed');
  if (failed.length > 0) return { phase: 'failed', allocs, failed };

  const evaluation = blockingEvaluation(detail.evaluations, target.evalId);
  if (evaluation) return { phase: 'blocked', allocs, evaluation };

  const want = jobTotalCount(detail.job);
  const goal = detail.job.type === 'batch' ? 'complete' : 'running';
  const done = allocs.filter((a) => a.clientStatus === goal && (goal === 'complete' || a.desiredStatus === 'run')).length;
  return { phase: done >= want ? 'done' : 'waiting', allocs, done, want };
}

/**
 * The evaluation that says placement failed, if the newest one that counts did. Counting
 * starts at ours (`evalId`); older evaluations are history. Without `evalId` (an
 * unchanged resubmission) the newest evaluation of the job decides.
 */
export function blockingEvaluation(evaluations: Evaluation[], evalId?: string): Evaluation | undefined {
  const newestFirst = [...evaluations].sort((a, b) => b.createdAt - a.createdAt);
  let relevant = newestFirst.filter((e) => e.status !== 'cancelled');
  if (evalId) {
    const ours = evaluations.find((e) => e.id === evalId);
    if (!ours) return undefined; // not visible yet: nothing to judge
    relevant = relevant.filter((e) => e.id === ours.id || e.createdAt >= ours.createdAt);
  }
  const newest = relevant[0];
  if (!newest) return undefined;
  const failedPlacing = newest.status === 'blocked' || newest.status === 'failed' || (newest.status === 'complete' && Object.keys(newest.failedPlacements).length > 0);
  return failedPlacing ? newest : undefined;
}
