/**
 * scheduler: pure placement. `schedule(state, evaluation, ctx)` turns one evaluation into
 * a plan (reconcile → feasibility filters → ranking → ports, preemption when nothing
 * fits) without IO, clock or global randomness; `verifyPlan(state, plan)` lets the plan applier re-check a plan against the
 * newest state before committing it. Reads only through `SchedulerState`.
 * Design: docs/design/scheduler.md.
 */
import { schedule } from './schedule.js';
import type { Scheduler } from './types.js';

export type { Plan, PlanPreemption, PlanStop, ScheduleContext, Scheduler, SchedulerState } from './types.js';
export { schedule } from './schedule.js';
export { verifyPlan } from './verify.js';
export type { PlanVerdict } from './verify.js';
export { describeFailure } from './failure.js';
export {
  DISTINCT_HOSTS,
  DISTINCT_PROPERTY,
  DRIVER_UNHEALTHY,
  DYNAMIC_PORTS_EXHAUSTED,
  GROUP_CONSTRAINT,
  JOB_CONSTRAINT,
  NODE_DRAINING,
  NODE_INELIGIBLE,
  NODE_NOT_READY,
  NOT_ENOUGH_CPU,
  NOT_ENOUGH_MEMORY,
  STATIC_PORT_IN_USE,
} from './feasibility.js';
export { STOP_REASONS, needsNewContainer } from './reconcile.js';
export { compareValues, constraintHolds, setContains } from './constraints.js';
export { mayPreempt, PREEMPTION_PRIORITY_GAP } from './preempt.js';

/** The default scheduler, typed against the contract so a drift is a compile error. */
export const defaultScheduler: Scheduler = schedule;
