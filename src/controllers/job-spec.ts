import type { Job } from '../core/job.js';

/**
 * The part of a job that is the user's intent: everything but what the server stamps
 * on it (version, submission time, stopped). Two submissions with equal intent are
 * the same version.
 */
export function jobIntent(job: Job): Omit<Job, 'version' | 'submittedAt' | 'stopped'> {
  const { version: _v, submittedAt: _s, stopped: _st, ...intent } = job;
  return intent;
}

export function sameIntent(a: Job, b: Job): boolean {
  return stableStringify(jobIntent(a)) === stableStringify(jobIntent(b));
}

/** JSON with object keys sorted, so equal values give equal strings. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
