import type { JobType, Task } from '../core/job.js';

/**
 * A task's place in its allocation's life (docs/design/agent.md, "Pods and lifecycle"):
 * - `prestart`: a hook run to completion before any main task starts;
 * - `sidecar`: a prestart sidecar, started first and kept running beside the main tasks;
 * - `main`: the allocation's work;
 * - `poststop`: a hook run to completion once the main tasks and sidecars have stopped.
 */
export type TaskRole = 'prestart' | 'sidecar' | 'main' | 'poststop';

export function taskRole(task: Pick<Task, 'lifecycle'>): TaskRole {
  const l = task.lifecycle;
  if (l === undefined) return 'main';
  if (l.hook === 'poststop') return 'poststop';
  return l.sidecar ? 'sidecar' : 'prestart';
}

/** Hooks run to completion: exit 0 is done for good, even in a service job; a failure follows the restart policy. */
export function runsToCompletion(role: TaskRole): boolean {
  return role === 'prestart' || role === 'poststop';
}

/** The job type the restart policy sees for a task: hooks behave as batch tasks. */
export function restartJobType(role: TaskRole, jobType: JobType): JobType {
  return runsToCompletion(role) ? 'batch' : jobType;
}

/** How descriptions name a task: "prestart task 'migrate'", "task 'web'". */
export function describeTask(name: string, role: TaskRole): string {
  return role === 'main' ? `task '${name}'` : `${role} task '${name}'`;
}
