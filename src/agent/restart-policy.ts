import type { JobType, RestartPolicy } from '../core/job.js';
import type { TaskExit } from '../driver/driver.js';

/** What to do after a task exited, decided without IO or clock (the caller passes `now`). */
export type RestartDecision =
  /** A batch task finished successfully: it is done, not failed. */
  | { kind: 'complete' }
  | { kind: 'restart'; delayMs: number; message: string }
  | { kind: 'fail'; message: string };

export interface RestartInput {
  policy: RestartPolicy;
  jobType: JobType;
  exit: TaskExit;
  now: number;
  /** When earlier restarts were decided; only those inside the policy's interval count. */
  recentRestarts: readonly number[];
}

/** A clean exit: code 0 and neither a signal nor the OOM killer. */
export function isSuccess(exit: TaskExit): boolean {
  return exit.exitCode === 0 && !exit.signaled && !exit.oomKilled;
}

/**
 * The restart policy. Batch tasks that succeed are complete; everything else (any exit of
 * a service task, a failed batch task) restarts while fewer than `attempts` restarts fell
 * within the last `intervalMs`. Past that, mode `fail` gives up and mode `delay` waits
 * until the oldest restart leaves the interval, then goes on.
 */
export function decideRestart(input: RestartInput): RestartDecision {
  const { policy, exit, now } = input;
  if (input.jobType === 'batch' && isSuccess(exit)) return { kind: 'complete' };
  const windowStart = now - policy.intervalMs;
  const recent = input.recentRestarts.filter((t) => t > windowStart).sort((a, b) => a - b);
  if (recent.length < policy.attempts) {
    return { kind: 'restart', delayMs: policy.delayMs, message: `Restarting in ${formatDuration(policy.delayMs)}` };
  }
  const limit = `${policy.attempts} restart${policy.attempts === 1 ? '' : 's'} in ${formatDuration(policy.intervalMs)}`;
  if (policy.mode === 'fail' || policy.attempts === 0) {
    return { kind: 'fail', message: `Exceeded allowed attempts (${limit}) and mode is "fail"` };
  }
  // The oldest restart that still counts leaves the window at oldest + interval.
  const oldest = recent[recent.length - policy.attempts]!;
  const delayMs = Math.max(policy.delayMs, oldest + policy.intervalMs - now);
  return { kind: 'restart', delayMs, message: `Exceeded allowed attempts (${limit}); mode is "delay": restarting in ${formatDuration(delayMs)}` };
}

/** "Exit code 137 (OOM killed)", "Exit code 143 (signaled)", "Exit code 0". */
export function describeExit(exit: TaskExit): string {
  const notes: string[] = [];
  if (exit.oomKilled) notes.push('OOM killed');
  else if (exit.signaled) notes.push('signaled');
  if (exit.error) notes.push(exit.error);
  return `Exit code ${exit.exitCode}${notes.length ? ` (${notes.join('; ')})` : ''}`;
}

/** 1500 → "1.5s", 90000 → "1m30s", 1800000 → "30m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalS = ms / 1000;
  if (totalS < 60) return `${Number.isInteger(totalS) ? totalS : totalS.toFixed(1)}s`;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = Math.round(totalS % 60);
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}` || '0s';
}
