import type { AllocView } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import { groupResources, hostPathsOf } from '../core/job.js';
import type { Group, Job } from '../core/job.js';
import { isSchedulable } from '../core/node.js';
import type { Node } from '../core/node.js';
import { askFor, CAPACITY_FILTERS, FilterTally, NODE_FILTERS, passes } from './feasibility.js';
import type { PlacementAsk } from './feasibility.js';
import type { SchedulerState } from './types.js';
import { emptyUsage, groupKey } from './usage.js';
import type { MutableNodeUsage } from './usage.js';
import { isLive } from '../core/alloc.js';
import type { NodeUtilisation, RebalanceMove } from '../core/rebalance.js';

/**
 * The rebalance planner: given the state, which allocations to move where so that load is
 * even across the eligible, ready nodes. Pure, like the rest of the scheduler; the
 * control plane applies its moves with the drain's make-before-break migration.
 *
 * Objective (lower is better), over the eligible ready nodes:
 *
 *   F = Var(cpu used / cpu total) + Var(memory used / memory total)
 *       + SKEW_WEIGHT × Σ_groups Σ_nodes (copies on node − copies / nodes)² / copies²
 *
 * Greedy: repeatedly take the single move (one allocation to one other node) that lowers
 * F the most, apply it to the model, and stop when no move lowers the utilisation
 * variance by at least MIN_GAIN (or `maxMoves` is reached). Each allocation moves at most
 * once. Every move therefore strictly lowers the utilisation variance (the skew term only
 * vetoes moves that would stack copies of a group); a plan computed on the state its own
 * moves produce is empty (idempotent).
 *
 * A move must pass the scheduler's own feasibility filters on the target (node status,
 * eligibility, drain, driver, job and group constraints, static and dynamic ports, cpu,
 * memory). Capacity is checked pessimistically: what other moves take *off* a node is not
 * counted as free, so the moves fit in any order and any number at once — a move still in
 * flight holds resources on both nodes.
 *
 * Never moved: allocations with host mounts (node-local data), allocations not running,
 * already being moved, of batch jobs (they finish), of a job version other than the
 * current one (an update is due anyway), or on nodes that are draining or ineligible.
 */

/** Smallest drop in utilisation variance a move must bring: below it, churn is not worth it. */
export const MIN_GAIN = 1e-4;
/** Weight of the per-group copy skew: it keeps moves from stacking copies of a group. */
export const SKEW_WEIGHT = 0.5;
export const DEFAULT_MAX_MOVES = 100;

export interface RebalanceOptions {
  /** Only move allocations of this job. */
  job?: { namespace: string; name: string };
  /** Stop after this many moves. Default DEFAULT_MAX_MOVES. */
  maxMoves?: number;
}

export interface RebalancePlan {
  moves: RebalanceMove[];
  before: NodeUtilisation[];
  after: NodeUtilisation[];
  /** sqrt(Var cpu + Var memory) of the fractions: 0 is perfectly even. */
  imbalanceBefore: number;
  imbalanceAfter: number;
  /** Allocations that would have been candidates but may not move, and why. */
  notMovable: { allocId: AllocId; name: string; nodeName: string; why: string }[];
}

interface Model {
  node: Node;
  cpu: number;
  mem: number;
  allocs: number;
  /** Copies per group key, as the plan leaves the node. */
  copies: Map<string, number>;
  /** For feasibility: what the node holds, moves in counted, moves out not freed. */
  pessimistic: MutableNodeUsage;
}

interface Candidate {
  alloc: AllocView;
  job: Job;
  group: Group;
  ask: PlacementAsk;
  key: string;
  at: Model;
}

/** Plans moves that even out load; see the module comment for the rules. */
export function planRebalance(state: SchedulerState, opts: RebalanceOptions = {}): RebalancePlan {
  const maxMoves = opts.maxMoves ?? DEFAULT_MAX_MOVES;
  const nodes = [...state.nodes()].filter(isSchedulable).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const models = new Map<NodeId, Model>();
  const candidates: Candidate[] = [];
  const notMovable: RebalancePlan['notMovable'] = [];
  const groupTotals = new Map<string, number>();

  for (const node of nodes) {
    const m: Model = { node, cpu: 0, mem: 0, allocs: 0, copies: new Map(), pessimistic: emptyUsage() };
    models.set(node.id, m);
    for (const a of state.allocsByNode(node.id)) {
      if (!isLive(a)) continue;
      m.cpu += a.resources.cpuMhz;
      m.mem += a.resources.memoryMb;
      m.allocs += 1;
      const key = groupKey(a);
      bump(m.copies, key, 1);
      bump(groupTotals, key, 1);
      m.pessimistic.used.cpuMhz += a.resources.cpuMhz;
      m.pessimistic.used.memoryMb += a.resources.memoryMb;
      for (const p of a.ports) m.pessimistic.ports.add(p.host);
      m.pessimistic.groups.add(key);
      if (opts.job !== undefined && (a.namespace !== opts.job.namespace || a.jobName !== opts.job.name)) continue;
      const c = candidate(state, a, m);
      if (typeof c === 'string') {
        if (c !== '') notMovable.push({ allocId: a.id, name: `${a.jobName}.${a.group}[${a.index}]`, nodeName: node.name, why: c });
      } else candidates.push(c);
    }
  }
  const before = snapshot(models);
  const stats = new Stats([...models.values()]);
  const imbalanceBefore = stats.imbalance();
  /** Per moved allocation: the node it starts on (a later move of the same one replaces the earlier). */
  const origin = new Map<AllocId, { c: Candidate; from: Model; fromBefore: string }>();
  const nodeOk = new Map<string, boolean>();
  // Every step lowers the objective by at least MIN_GAIN, so this only guards against bugs.
  for (let step = 0; step < maxMoves * 10; step++) {
    let best: { c: Candidate; to: Model; util: number; total: number } | undefined;
    for (const c of candidates) {
      if (!origin.has(c.alloc.id) && origin.size >= maxMoves) continue;
      for (const to of models.values()) {
        if (to === c.at) continue;
        const util = stats.delta(c.at, to, c.alloc);
        if (util > -MIN_GAIN) continue;
        const copies = groupTotals.get(c.key) ?? 1;
        const skew = (2 * ((to.copies.get(c.key) ?? 0) - (c.at.copies.get(c.key) ?? 0) + 1)) / (copies * copies);
        const total = util + SKEW_WEIGHT * skew;
        if (total > -MIN_GAIN) continue;
        if (best !== undefined && total >= best.total) continue;
        if (!fits(c, to, nodeOk)) continue;
        best = { c, to, util, total };
      }
    }
    if (best === undefined) break;
    const { c, to } = best;
    if (!origin.has(c.alloc.id)) origin.set(c.alloc.id, { c, from: c.at, fromBefore: pct(c.at) });
    stats.apply(c.at, to, c.alloc);
    moveCopy(c.at, to, c);
    c.at = to;
  }
  const moves: RebalanceMove[] = [];
  for (const { c, from, fromBefore } of origin.values()) {
    if (c.at === from) continue; // moved there and back
    const to = c.at;
    moves.push({
      allocId: c.alloc.id,
      name: `${c.alloc.jobName}.${c.alloc.group}[${c.alloc.index}]`,
      namespace: c.alloc.namespace,
      jobName: c.alloc.jobName,
      fromNodeId: from.node.id,
      fromNodeName: from.node.name,
      toNodeId: to.node.id,
      toNodeName: to.node.name,
      why: `evens out ${from.node.name} (${fromBefore} before the plan, ${pct(from)} after) and ${to.node.name} (now ${pct(to)})`,
    });
  }
  return { moves, before, after: snapshot(models), imbalanceBefore, imbalanceAfter: stats.imbalance(), notMovable };
}

/** A movable allocation, or why not ('' = not a candidate and not worth reporting). */
function candidate(state: SchedulerState, a: AllocView, at: Model): Candidate | string {
  if (a.desiredStatus !== 'run' || a.clientStatus !== 'running') return '';
  if (a.migrate !== undefined) return 'already being moved';
  const job = state.job(a.namespace, a.jobName);
  if (job === undefined || job.stopped) return '';
  if (job.type === 'batch') return 'batch work is left to finish';
  if (a.jobVersion !== job.version) return `runs job version ${a.jobVersion}, not the current ${job.version}`;
  const group = job.groups.find((g) => g.name === a.group);
  if (group === undefined) return '';
  const paths = hostPathsOf(group);
  if (paths.length > 0) return `not movable (uses host path ${paths.join(', ')})`;
  return { alloc: a, job, group, ask: askFor(job, group, groupResources(group)), key: groupKey(a), at };
}

function fits(c: Candidate, to: Model, nodeOk: Map<string, boolean>): boolean {
  const k = `${c.key}@${to.node.id}`;
  let ok = nodeOk.get(k);
  if (ok === undefined) {
    ok = passes(NODE_FILTERS, to.node, c.ask, to.pessimistic, new FilterTally());
    nodeOk.set(k, ok);
  }
  return ok && passes(CAPACITY_FILTERS, to.node, c.ask, to.pessimistic, new FilterTally());
}

function moveCopy(from: Model, to: Model, c: Candidate): void {
  const r = c.alloc.resources;
  from.cpu -= r.cpuMhz;
  from.mem -= r.memoryMb;
  from.allocs -= 1;
  bump(from.copies, c.key, -1);
  to.cpu += r.cpuMhz;
  to.mem += r.memoryMb;
  to.allocs += 1;
  bump(to.copies, c.key, 1);
  // Pessimistic: the target holds it from now on; the source is not freed.
  const u = to.pessimistic;
  u.used.cpuMhz += r.cpuMhz;
  u.used.memoryMb += r.memoryMb;
  u.groups.add(c.key);
  for (const t of c.group.tasks) {
    for (const p of t.ports) {
      if (p.static !== undefined) u.ports.add(p.static);
      else {
        // The scheduler picks the real one; reserve any free one so later moves see it taken.
        for (let port = to.node.portRange.min; port <= to.node.portRange.max; port++) {
          if (!u.ports.has(port)) {
            u.ports.add(port);
            break;
          }
        }
      }
    }
  }
}

/** Running sums of the fractions, so a move's effect on the variance costs O(1). */
class Stats {
  private s1c = 0;
  private s2c = 0;
  private s1m = 0;
  private s2m = 0;
  private readonly n: number;

  constructor(models: Model[]) {
    this.n = models.length;
    for (const m of models) {
      const [c, mm] = fractions(m.node, m.cpu, m.mem);
      this.s1c += c;
      this.s2c += c * c;
      this.s1m += mm;
      this.s2m += mm * mm;
    }
  }

  imbalance(): number {
    return Math.sqrt(Math.max(0, this.variance(this.s1c, this.s2c) + this.variance(this.s1m, this.s2m)));
  }

  /** Change of Var(cpu) + Var(mem) if `a` moved from `from` to `to`. */
  delta(from: Model, to: Model, a: AllocView): number {
    const next = this.after(from, to, a);
    return this.variance(next.s1c, next.s2c) + this.variance(next.s1m, next.s2m) - this.variance(this.s1c, this.s2c) - this.variance(this.s1m, this.s2m);
  }

  apply(from: Model, to: Model, a: AllocView): void {
    const next = this.after(from, to, a);
    this.s1c = next.s1c;
    this.s2c = next.s2c;
    this.s1m = next.s1m;
    this.s2m = next.s2m;
  }

  private after(from: Model, to: Model, a: AllocView) {
    const r = a.resources;
    const [fc0, fm0] = fractions(from.node, from.cpu, from.mem);
    const [tc0, tm0] = fractions(to.node, to.cpu, to.mem);
    const [fc1, fm1] = fractions(from.node, from.cpu - r.cpuMhz, from.mem - r.memoryMb);
    const [tc1, tm1] = fractions(to.node, to.cpu + r.cpuMhz, to.mem + r.memoryMb);
    return {
      s1c: this.s1c - fc0 - tc0 + fc1 + tc1,
      s2c: this.s2c - fc0 * fc0 - tc0 * tc0 + fc1 * fc1 + tc1 * tc1,
      s1m: this.s1m - fm0 - tm0 + fm1 + tm1,
      s2m: this.s2m - fm0 * fm0 - tm0 * tm0 + fm1 * fm1 + tm1 * tm1,
    };
  }

  private variance(s1: number, s2: number): number {
    if (this.n === 0) return 0;
    const mean = s1 / this.n;
    return s2 / this.n - mean * mean;
  }
}

function fractions(node: Node, cpu: number, mem: number): [number, number] {
  return [node.resources.cpuMhz > 0 ? cpu / node.resources.cpuMhz : 0, node.resources.memoryMb > 0 ? mem / node.resources.memoryMb : 0];
}

function snapshot(models: Map<NodeId, Model>): NodeUtilisation[] {
  return [...models.values()]
    .map((m) => {
      const [cpu, memory] = fractions(m.node, m.cpu, m.mem);
      return { nodeId: m.node.id, name: m.node.name, cpu, memory, allocs: m.allocs };
    })
    .sort((a, b) => a.name.localeCompare(b.name) || (a.nodeId < b.nodeId ? -1 : 1));
}

function pct(m: Model): string {
  const [c, mm] = fractions(m.node, m.cpu, m.mem);
  return `cpu ${Math.round(c * 100)}% mem ${Math.round(mm * 100)}%`;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export type { NodeUtilisation, RebalanceMove };
