import { isLive } from '../core/alloc.js';
import type { AllocView } from '../core/alloc.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { PlacementAsk } from './feasibility.js';
import type { PortsView } from './overlay.js';
import type { SchedulerState } from './types.js';
import type { UsageTracker } from './usage.js';

/**
 * Preemption: when no node can take a placement only for lack of room (ports, cpu,
 * memory), stop lower-priority allocations of other jobs to make it.
 *
 * Rules (Nomad's):
 * - only service jobs preempt; batch work waits for room instead;
 * - a victim's job has priority at least PREEMPTION_PRIORITY_GAP below the preemptor's,
 *   so two jobs can never preempt each other back and forth (no ping-pong), and jobs of
 *   nearly equal priority do not churn each other;
 * - a victim is meant to run (desired `run`, live) and not already stopped by the plan.
 *
 * On each candidate node the victims are chosen greedily — most of the missing room
 * first, lowest priority first among equals — then improved (a victim swapped for a
 * lower-priority one that still makes room) and pruned (victims not needed dropped).
 * Among nodes, the best has the fewest victims, then the least total priority, then the
 * least room freed beyond the need. Static ports held by another allocation can only be
 * freed by stopping that allocation, so its holder is always a victim.
 */

/** A victim's job priority must be at most the preemptor's minus this. */
export const PREEMPTION_PRIORITY_GAP = 10;
/** With sampling, preemption compares at least this many candidate nodes (all with `full`). */
export const MIN_PREEMPTION_SAMPLE = 8;

/** Whether `job` may preempt at all. */
export const mayPreempt = (job: Pick<Job, 'type'>): boolean => job.type === 'service';

export interface PreemptionPick {
  node: Node;
  victims: AllocView[];
  /** Per victim, its job's priority. */
  priorities: number[];
}

interface NodePick extends PreemptionPick {
  prioritySum: number;
  excess: number;
}

/** Chooses allocations to preempt for one job's placements; caches job priorities over a plan. */
export class Preemptor {
  /** Per namespace, per job name: its priority (undefined: the job is gone). */
  private readonly priorities = new Map<string, Map<string, number | undefined>>();
  /** Nodes the last `pick` found lower-priority allocations on (whether or not they made room): for explanations. */
  lastWithVictims = 0;
  /**
   * Nodes with nothing this job may preempt. Within one plan that cannot change (victims
   * are only ever removed, placements are not candidates), so a group failing many
   * placements scans each node's allocations once, not once per placement.
   */
  private readonly barren = new Set<string>();

  constructor(
    private readonly state: SchedulerState,
    private readonly job: Job,
  ) {}

  /** Victims' job priority may be at most this. */
  get maxVictimPriority(): number {
    return this.job.priority - PREEMPTION_PRIORITY_GAP;
  }

  /** The priority of `a`'s job; undefined when the job is gone (its allocations are stopping anyway). */
  priorityOf(a: Pick<AllocView, 'namespace' | 'jobName'>): number | undefined {
    let inNamespace = this.priorities.get(a.namespace);
    if (inNamespace === undefined) this.priorities.set(a.namespace, (inNamespace = new Map()));
    const p = inNamespace.get(a.jobName);
    if (p !== undefined || inNamespace.has(a.jobName)) return p;
    const priority = this.state.job(a.namespace, a.jobName)?.priority;
    inNamespace.set(a.jobName, priority);
    return priority;
  }

  /**
   * The best node of `nodes` (in the seeded walk order: ties go to the first) and the
   * victims that make room there, or undefined. Compares at most `maxNodes` nodes where
   * preemption can make room.
   */
  pick(nodes: readonly Node[], ask: PlacementAsk, usage: UsageTracker, maxNodes: number): PreemptionPick | undefined {
    if (!mayPreempt(this.job)) return undefined;
    let best: NodePick | undefined;
    let compared = 0;
    this.lastWithVictims = 0;
    for (const node of nodes) {
      if (compared >= maxNodes) break;
      if (this.barren.has(node.id)) continue;
      const p = this.onNode(node, ask, usage);
      if (p === undefined) continue;
      compared++;
      if (best === undefined || better(p, best)) best = p;
    }
    return best === undefined ? undefined : { node: best.node, victims: best.victims, priorities: best.priorities };
  }

  private onNode(node: Node, ask: PlacementAsk, usage: UsageTracker): NodePick | undefined {
    const u = usage.of(node.id);
    const { namespace, name } = this.job;
    const candidates: { a: AllocView; priority: number }[] = [];
    for (const a of this.state.allocsByNode(node.id)) {
      if (a.desiredStatus !== 'run' || (a.jobName === name && a.namespace === namespace) || !isLive(a) || usage.isFreed(a.id)) continue;
      const priority = this.priorityOf(a);
      if (priority === undefined || priority > this.maxVictimPriority) continue;
      candidates.push({ a, priority });
    }
    if (candidates.length === 0) {
      this.barren.add(node.id);
      return undefined;
    }
    this.lastWithVictims++;

    const room = new Room(node, ask, u.used, u.ports);
    // Static ports: only their holder can free them.
    const statics = ask.staticPorts;
    if (new Set(statics).size !== statics.length) return undefined;
    const chosen = new Set<(typeof candidates)[number]>();
    for (const port of statics) {
      if (!u.ports.has(port)) continue;
      const holder = candidates.find((c) => c.a.ports.some((p) => p.host === port));
      if (holder === undefined) return undefined;
      chosen.add(holder);
    }
    const mandatory = new Set(chosen);
    const victims = () => [...chosen].map((c) => c.a);

    // Greedy: the candidate covering most of what is still missing; lower priority, then smaller, on ties.
    while (!room.fits(victims())) {
      const missing = room.missing(victims());
      let pick: (typeof candidates)[number] | undefined;
      let pickGain = 0;
      for (const c of candidates) {
        if (chosen.has(c)) continue;
        const g = room.gain(c.a, missing);
        if (g <= 0) continue;
        if (pick === undefined || g > pickGain + 1e-9 || (Math.abs(g - pickGain) <= 1e-9 && (c.priority < pick.priority || (c.priority === pick.priority && room.size(c.a) < room.size(pick.a))))) {
          pick = c;
          pickGain = g;
        }
      }
      if (pick === undefined) return undefined;
      chosen.add(pick);
    }
    // Improve: swap a victim for a lower-priority (or same priority, smaller) one that still makes room.
    const byPriorityDesc = () => [...chosen].filter((c) => !mandatory.has(c)).sort((x, y) => y.priority - x.priority || room.size(y.a) - room.size(x.a));
    const rest = candidates.filter((c) => !chosen.has(c)).sort((x, y) => x.priority - y.priority || room.size(x.a) - room.size(y.a));
    for (const v of byPriorityDesc()) {
      for (const c of rest) {
        if (chosen.has(c)) continue;
        if (!(c.priority < v.priority || (c.priority === v.priority && room.size(c.a) < room.size(v.a)))) continue;
        chosen.delete(v);
        chosen.add(c);
        if (room.fits(victims())) break;
        chosen.delete(c);
        chosen.add(v);
      }
    }
    // Prune: drop victims the room does not need, highest priority first.
    for (const v of byPriorityDesc()) {
      chosen.delete(v);
      if (!room.fits(victims())) chosen.add(v);
    }
    const picked = [...chosen].sort((x, y) => (x.a.id < y.a.id ? -1 : 1));
    return {
      node,
      victims: picked.map((c) => c.a),
      priorities: picked.map((c) => c.priority),
      prioritySum: picked.reduce((n, c) => n + c.priority, 0),
      excess: room.excess(picked.map((c) => c.a)),
    };
  }
}

function better(a: NodePick, b: NodePick): boolean {
  if (a.victims.length !== b.victims.length) return a.victims.length < b.victims.length;
  if (a.prioritySum !== b.prioritySum) return a.prioritySum < b.prioritySum;
  return a.excess < b.excess - 1e-9;
}

/** What one node lacks for the ask, and whether stopping some allocations makes up for it. */
class Room {
  private readonly need: { cpu: number; mem: number };

  constructor(
    private readonly node: Node,
    private readonly ask: PlacementAsk,
    used: { cpuMhz: number; memoryMb: number },
    private readonly ports: PortsView,
  ) {
    this.need = {
      cpu: used.cpuMhz + ask.resources.cpuMhz - node.resources.cpuMhz,
      mem: used.memoryMb + ask.resources.memoryMb - node.resources.memoryMb,
    };
  }

  fits(victims: readonly AllocView[]): boolean {
    const m = this.missing(victims);
    if (m.cpu > 0 || m.mem > 0 || m.ports > 0) return false;
    const freed = new Set(victims.flatMap((v) => v.ports.map((p) => p.host)));
    return this.ask.staticPorts.every((p) => !this.ports.has(p) || freed.has(p));
  }

  /** Still missing after stopping `victims`: cpu (MHz), memory (MB), dynamic ports. */
  missing(victims: readonly AllocView[]): { cpu: number; mem: number; ports: number } {
    let cpu = this.need.cpu;
    let mem = this.need.mem;
    const freed = new Set<number>();
    for (const v of victims) {
      cpu -= v.resources.cpuMhz;
      mem -= v.resources.memoryMb;
      for (const p of v.ports) freed.add(p.host);
    }
    let ports = 0;
    if (this.ask.dynamicPorts > 0) {
      // Held in the range once the victims' ports are freed: what freeDynamicPorts counts.
      const { min, max } = this.node.portRange;
      let held = this.ports.countIn(min, max);
      for (const p of freed) if (p >= min && p <= max && this.ports.has(p)) held--;
      ports = this.ask.dynamicPorts - Math.max(0, max - min + 1 - held);
    }
    return { cpu: Math.max(0, cpu), mem: Math.max(0, mem), ports: Math.max(0, ports) };
  }

  /** How much of what is `missing` stopping `a` covers: Σ over missing dimensions of the covered fraction. */
  gain(a: AllocView, missing: { cpu: number; mem: number; ports: number }): number {
    let g = 0;
    if (missing.cpu > 0) g += Math.min(a.resources.cpuMhz, missing.cpu) / missing.cpu;
    if (missing.mem > 0) g += Math.min(a.resources.memoryMb, missing.mem) / missing.mem;
    if (missing.ports > 0) {
      const { min, max } = this.node.portRange;
      const inRange = a.ports.filter((p) => p.host >= min && p.host <= max).length;
      g += Math.min(inRange, missing.ports) / missing.ports;
    }
    return g;
  }

  /** `a`'s share of the node, for tie-breaks: smaller victims first. */
  size(a: AllocView): number {
    return share(a.resources.cpuMhz, this.node.resources.cpuMhz) + share(a.resources.memoryMb, this.node.resources.memoryMb);
  }

  /** Room freed beyond the need, as shares of the node. */
  excess(victims: readonly AllocView[]): number {
    const cpu = victims.reduce((n, v) => n + v.resources.cpuMhz, 0) - Math.max(0, this.need.cpu);
    const mem = victims.reduce((n, v) => n + v.resources.memoryMb, 0) - Math.max(0, this.need.mem);
    return share(Math.max(0, cpu), this.node.resources.cpuMhz) + share(Math.max(0, mem), this.node.resources.memoryMb);
  }
}

const share = (x: number, total: number) => (total > 0 ? x / total : 0);
