import { isLive } from '../core/alloc.js';
import type { Allocation, AllocView } from '../core/alloc.js';
import type { AllocId } from '../core/ids.js';
import { isSchedulable } from '../core/node.js';
import type { Node } from '../core/node.js';
import type { Plan, PlanPreemption, SchedulerState } from './types.js';
import { UsageTracker } from './usage.js';

export interface PlanVerdict {
  /** Placements that still fit, in plan order. */
  ok: Allocation[];
  rejected: { alloc: Allocation; reason: string }[];
  /** The plan's preemptions for the accepted placements. */
  preempt: PlanPreemption[];
}

const NONE: readonly PlanPreemption[] = [];

/**
 * Re-checks a plan's placements against a newer snapshot, for the plan applier
 * (ARCHITECTURE invariant 4): the node must still take work, and cpu, memory and host
 * ports must still be free once everything live there and every placement accepted
 * before it (in plan order) is counted. The plan's own stops count as freed, as they
 * did when the plan was made, and so do its preemptions — but only those made for a placement
 * that is accepted: `preempt` lists the preemptions the applier should carry out.
 * Pure: the applier commits `ok` and re-evaluates the rest.
 *
 * `distinct_*` constraints are not re-checked: they only concern the job's own
 * allocations, and one job is only ever scheduled by one worker at a time.
 */
export function verifyPlan(state: SchedulerState, plan: Plan): PlanVerdict {
  const own = new Set<AllocId>(plan.place.map((a) => a.id));
  // The plan's own ids are ignored in the snapshot, so verifying a plan that was already
  // (partly) written does not count its placements twice.
  const usage = new UsageTracker(state, new Set(plan.stop.map((s) => s.allocId)), own);
  const preemptFor = new Map<AllocId, PlanPreemption[]>();
  for (const p of plan.preempt ?? []) {
    const list = preemptFor.get(p.forAllocId);
    if (list) list.push(p);
    else preemptFor.set(p.forAllocId, [p]);
  }
  const verdict: PlanVerdict = { ok: [], rejected: [], preempt: [] };
  for (const alloc of plan.place) {
    // Its victims' room counts as freed for it (and for the placements after it, as when
    // the plan was made); a victim already gone or stopped frees nothing more.
    const victims = preemptFor.get(alloc.id) ?? NONE;
    const held: AllocView[] = [];
    for (const p of victims) {
      const v = state.alloc !== undefined ? state.alloc(p.allocId) : state.allocsByNode(p.nodeId).find((a) => a.id === p.allocId);
      if (v !== undefined && v.nodeId === p.nodeId && isLive(v) && !usage.isFreed(v.id)) held.push(v);
    }
    const reason = whyNot(state.node(alloc.nodeId), alloc, usage, held);
    if (reason === undefined) {
      verdict.ok.push(alloc);
      verdict.preempt.push(...victims);
      for (const v of held) usage.release(v);
      usage.add(alloc);
    } else {
      verdict.rejected.push({ alloc, reason });
    }
  }
  return verdict;
}

/** Why `alloc` cannot go where the plan put it, counting the room `victims` (its preemptions) would free. */
function whyNot(node: Node | undefined, alloc: Allocation, usage: UsageTracker, victims: readonly AllocView[]): string | undefined {
  if (node === undefined) return `node ${alloc.nodeName} no longer exists`;
  if (!isSchedulable(node)) {
    const state = node.status !== 'ready' ? node.status : node.drain ? 'draining' : 'ineligible';
    return `node ${node.name} no longer takes new work (${state})`;
  }
  const u = usage.of(node.id);
  let victimsCpu = 0;
  let victimsMem = 0;
  for (const v of victims) {
    victimsCpu += v.resources.cpuMhz;
    victimsMem += v.resources.memoryMb;
  }
  const cpuFree = node.resources.cpuMhz - u.used.cpuMhz + victimsCpu;
  if (alloc.resources.cpuMhz > cpuFree) return `node ${node.name}: not enough cpu (needs ${alloc.resources.cpuMhz} MHz, free ${Math.max(0, cpuFree)} MHz)`;
  const memFree = node.resources.memoryMb - u.used.memoryMb + victimsMem;
  if (alloc.resources.memoryMb > memFree) return `node ${node.name}: not enough memory (needs ${alloc.resources.memoryMb} MB, free ${Math.max(0, memFree)} MB)`;
  // A placement holds a few ports and rarely has victims: scans, no sets built per placement.
  const ports = alloc.ports;
  for (let i = 0; i < ports.length; i++) {
    const host = ports[i]!.host;
    if (u.ports.has(host) && !victims.some((v) => v.ports.some((p) => p.host === host))) return `node ${node.name}: host port ${host} already in use`;
    for (let j = 0; j < i; j++) if (ports[j]!.host === host) return `node ${node.name}: host port ${host} already in use`;
  }
  return undefined;
}
