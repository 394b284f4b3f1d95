import { isClientTerminal } from '../core/alloc.js';
import type { AllocView } from '../core/alloc.js';
import { migratePolicy } from '../core/job.js';
import type { Group, MigratePolicy } from '../core/job.js';
import type { PlacementRequest, StopRequest } from './reconcile.js';
import type { SchedulerState } from './types.js';

/**
 * Migrations in the reconciler: allocations the drainer or a rebalance marked to move
 * (`alloc.migrate`, started) are replaced *before* they stop ("make before break").
 *
 * For one migrating allocation `a` (desired run, still live) of index i:
 *   - nothing else claims index i yet: `a` keeps running and holds i, and a replacement
 *     is placed for it (same index, `previousAllocId` = a, on `targetNodeId` when a
 *     rebalance named one; a draining node is never feasible, so never there);
 *   - another allocation claims i (its replacement, normally): `a` is set aside — kept,
 *     not counted — until that one is ready (running for the group's
 *     `migrate.minHealthyTime`; healthy, once health checks exist), then `a` is stopped.
 *     The claimant goes through the reconciler's ordinary logic (a failed replacement is
 *     rescheduled as any failed allocation would be);
 *   - `force` (the drain deadline passed): `a` is stopped now, and replaced when nothing
 *     else claims i.
 * So a migration never lowers the running count: the old copy stops only once its
 * replacement runs, except when a deadline forces it.
 */

/** Same shape as the reconciler's own per-index slots. */
export interface MigrateSlot {
  index: number;
  alloc: AllocView;
  keep: boolean;
  inPlace: boolean;
  lost: boolean;
  stopReason?: string;
  placement?: PlacementRequest;
}

export interface MigrateSplit {
  /** For the reconciler's ordinary per-index logic. */
  regular: AllocView[];
  /** Indexes decided here: the migrating allocation holds them (and a replacement is placed). */
  slots: MigrateSlot[];
  /** Migrating allocations kept running while their replacement gets ready. */
  aside: AllocView[];
  /** Migrating allocations whose replacement is ready, or whose deadline passed. */
  stop: StopRequest[];
}

export const MIGRATE_REASONS = {
  migrated: (by: AllocView) => `migrated: replaced by ${by.id} on node ${by.nodeName}`,
} as const;

/** True for an allocation the scheduler should move now. */
export function isMigrating(a: AllocView): boolean {
  return a.migrate !== undefined && a.migrate.started && a.desiredStatus === 'run' && !isClientTerminal(a.clientStatus);
}

/**
 * Whether a replacement is ready for the allocation it replaces to stop: running, every
 * task running for at least `minHealthyTimeMs`. Seam: once health checks exist, this also
 * requires the allocation to be healthy.
 */
export function replacementReady(r: AllocView, policy: MigratePolicy, now: number): boolean {
  const at = readyAt(r, policy);
  return at !== undefined && at <= now;
}

/** When `r` becomes ready (may be in the future), or undefined while it is not running. */
export function readyAt(r: AllocView, policy: MigratePolicy): number | undefined {
  if (r.clientStatus !== 'running' || r.desiredStatus !== 'run') return undefined;
  const tasks = Object.values(r.taskStates);
  if (tasks.some((t) => t.state !== 'running')) return undefined;
  let started = 0;
  for (const t of tasks) started = Math.max(started, t.startedAt ?? 0);
  return started + policy.minHealthyTimeMs;
}

/** Splits one group's allocations into migrating ones (decided here) and the rest. */
export function splitMigrating(_state: SchedulerState, group: Group, allocs: readonly AllocView[], now: number): MigrateSplit {
  const out: MigrateSplit = { regular: [], slots: [], aside: [], stop: [] };
  if (!allocs.some(isMigrating)) {
    out.regular.push(...allocs);
    return out;
  }
  const policy = migratePolicy(group);
  for (const a of allocs) {
    if (!isMigrating(a)) {
      out.regular.push(a);
      continue;
    }
    const m = a.migrate!;
    // Another allocation that claims the index: the replacement, normally. A second
    // migrating one (both marked) is not a stand-in: it is on its way out too.
    const others = allocs.filter((b) => b !== a && b.index === a.index && b.desiredStatus === 'run' && !isMigrating(b) && b.clientStatus !== 'lost');
    if (others.length === 0) {
      const placement: PlacementRequest = { group, index: a.index, kind: 'migrate', previous: a, rescheduleTimes: [...a.rescheduleTimes], avoidNodeId: a.nodeId };
      if (m.targetNodeId !== undefined && !m.force) placement.targetNodeId = m.targetNodeId;
      const slot: MigrateSlot = { index: a.index, alloc: a, keep: !m.force, inPlace: false, lost: false, placement };
      if (m.force) slot.stopReason = m.why;
      out.slots.push(slot);
      continue;
    }
    const ready = others.find((b) => replacementReady(b, policy, now));
    if (m.force) out.stop.push({ alloc: a, reason: m.why });
    else if (ready !== undefined) out.stop.push({ alloc: a, reason: MIGRATE_REASONS.migrated(ready) });
    else out.aside.push(a);
  }
  // Two migrating allocations of one index (a rebalance racing a drain): the first holds it.
  const seen = new Set<number>();
  out.slots = out.slots.filter((s) => {
    if (seen.has(s.index)) {
      out.aside.push(s.alloc);
      return false;
    }
    seen.add(s.index);
    return true;
  });
  return out;
}
