import type { Allocation } from '../core/alloc.js';
import type { AllocId } from '../core/ids.js';
import { isSchedulable } from '../core/node.js';
import type { Node } from '../core/node.js';
import type { Plan, SchedulerState } from './types.js';
import { UsageTracker } from './usage.js';

export interface PlanVerdict {
  /** Placements that still fit, in plan order. */
  ok: Allocation[];
  rejected: { alloc: Allocation; reason: string }[];
}

/**
 * Re-checks a plan's placements against a newer snapshot, for the plan applier
 * (ARCHITECTURE invariant 4): the node must still take work, and cpu, memory and host
 * ports must still be free once everything live there and every placement accepted
 * before it (in plan order) is counted. The plan's own stops count as freed, as they
 * did when the plan was made. Pure: the applier commits `ok` and re-evaluates the rest.
 */
export function verifyPlan(state: SchedulerState, plan: Plan): PlanVerdict {
  const own = new Set<AllocId>(plan.place.map((a) => a.id));
  // The plan's own ids are ignored in the snapshot, so verifying a plan that was already
  // (partly) written does not count its placements twice.
  const usage = new UsageTracker(state, new Set(plan.stop.map((s) => s.allocId)), own);
  const verdict: PlanVerdict = { ok: [], rejected: [] };
  for (const alloc of plan.place) {
    const reason = whyNot(state.node(alloc.nodeId), alloc, usage);
    if (reason === undefined) {
      verdict.ok.push(alloc);
      usage.add(alloc);
    } else {
      verdict.rejected.push({ alloc, reason });
    }
  }
  return verdict;
}

function whyNot(node: Node | undefined, alloc: Allocation, usage: UsageTracker): string | undefined {
  if (node === undefined) return `node ${alloc.nodeName} no longer exists`;
  if (!isSchedulable(node)) {
    const state = node.status !== 'ready' ? node.status : node.drain ? 'draining' : 'ineligible';
    return `node ${node.name} no longer takes new work (${state})`;
  }
  const u = usage.of(node.id);
  const cpuFree = node.resources.cpuMhz - u.used.cpuMhz;
  if (alloc.resources.cpuMhz > cpuFree) return `node ${node.name}: not enough cpu (needs ${alloc.resources.cpuMhz} MHz, free ${Math.max(0, cpuFree)} MHz)`;
  const memFree = node.resources.memoryMb - u.used.memoryMb;
  if (alloc.resources.memoryMb > memFree) return `node ${node.name}: not enough memory (needs ${alloc.resources.memoryMb} MB, free ${Math.max(0, memFree)} MB)`;
  const mine = new Set<number>();
  for (const p of alloc.ports) {
    if (u.ports.has(p.host) || mine.has(p.host)) return `node ${node.name}: host port ${p.host} already in use`;
    mine.add(p.host);
  }
  return undefined;
}
