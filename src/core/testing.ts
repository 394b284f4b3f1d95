import type { Group, Job, Task } from './job.js';

/**
 * Builders of valid domain objects for tests in every folder: the defaults are a small
 * web service (one group `app`, one task `server`); tests override what they are about.
 */

export function aTask(over: Partial<Task> = {}): Task {
  return {
    name: 'server',
    image: 'karu/hello:1',
    args: [],
    env: {},
    resources: { cpuMhz: 100, memoryMb: 256 },
    ports: [],
    killTimeoutMs: 5_000,
    ...over,
  };
}

export function aGroup(over: Partial<Group> = {}): Group {
  return {
    name: 'app',
    count: 1,
    constraints: [],
    restart: { attempts: 2, intervalMs: 60_000, delayMs: 1_000, mode: 'fail' },
    reschedule: { attempts: 3, intervalMs: 3_600_000 },
    tasks: [aTask()],
    ...over,
  };
}

/** A job as the spec produces it (version 0: the server numbers it). */
export function aServiceJob(over: Partial<Job> = {}, group: Partial<Group> = {}): Job {
  return {
    namespace: 'default',
    name: 'web',
    type: 'service',
    priority: 50,
    constraints: [],
    placement: 'binpack',
    meta: {},
    stopped: false,
    version: 0,
    submittedAt: 0,
    groups: [aGroup(group)],
    ...over,
  };
}
