import type { Group, Job } from '../core/job.js';
import { DEFAULT_NODE_POOL } from '../core/node.js';
import type { Node } from '../core/node.js';
import type { Resources } from '../core/resources.js';
import { constraintPredicate, formatConstraint, isDistinctOperator, targetResolver } from './constraints.js';
import type { NodePredicate, TargetResolver } from './constraints.js';
import type { JobCounts } from './job-counts.js';
import { NO_GROUPS, NO_PORTS } from './overlay.js';
import { dynamicPortCount, firstPortConflict, freeDynamicPorts, staticPorts } from './ports.js';
import type { NodeUsage } from './usage.js';

/**
 * Feasibility: which nodes could take one allocation of a group at all. A chain of
 * filters, cheapest first; the first that rejects a node names the reason, and each
 * filter can explain its rejections in one line for people ("2 nodes: draining").
 *
 * Filters come in two stages. `node` filters depend only on the node and the job, so
 * they run once per group; `capacity` filters depend on what is already on the node
 * (including this plan's placements), so they run for every placement.
 */

export const NODE_NOT_READY = 'NODE_NOT_READY';
export const NODE_INELIGIBLE = 'NODE_INELIGIBLE';
export const NODE_DRAINING = 'NODE_DRAINING';
export const NODE_POOL = 'NODE_POOL';
export const DRIVER_UNHEALTHY = 'DRIVER_UNHEALTHY';
export const JOB_CONSTRAINT = 'JOB_CONSTRAINT';
export const GROUP_CONSTRAINT = 'GROUP_CONSTRAINT';
export const DISTINCT_HOSTS = 'DISTINCT_HOSTS';
export const DISTINCT_PROPERTY = 'DISTINCT_PROPERTY';
export const STATIC_PORT_IN_USE = 'STATIC_PORT_IN_USE';
export const NOT_ENOUGH_CPU = 'NOT_ENOUGH_CPU';
export const NOT_ENOUGH_MEMORY = 'NOT_ENOUGH_MEMORY';
export const DYNAMIC_PORTS_EXHAUSTED = 'DYNAMIC_PORTS_EXHAUSTED';

/** Every task runs on this driver in v1; a node without it healthy can run nothing. */
export const REQUIRED_DRIVER = 'docker';

/** What one allocation of a group asks of a node. Built once per group. */
export interface PlacementAsk {
  job: Job;
  group: Group;
  resources: Resources;
  dynamicPorts: number;
  /** The group's static host ports, in task order (`staticPorts`). */
  staticPorts: number[];
  /** The job's and the group's constraints, compiled once (`constraintPredicate`), in declaration order. */
  holds: { job: NodePredicate[]; group: NodePredicate[] };
  /** The job's and the group's `distinct_*` constraints, resolved once. */
  distinct: DistinctRule[];
  /**
   * Where the job's allocations are as the plan stands (kept up to date by the scheduler).
   * Absent (rebalance, disconnect): the `distinct_*` filters pass every node.
   */
  counts?: JobCounts;
  /**
   * CAPACITY_FILTERS less those that pass every node for this ask (no static ports, no
   * dynamic ports, no distinct_* rule): what a walk runs per visit. Same verdicts, fewer calls.
   */
  capacityFilters: readonly NodeFilter[];
}

/**
 * A `distinct_hosts` / `distinct_property` constraint: at most `limit` allocations per
 * node (hosts, limit 1) or per value of `attribute`, counting the whole job when declared
 * on the job, only `group` when declared on a group.
 */
export interface DistinctRule {
  operator: 'distinct_hosts' | 'distinct_property';
  attribute: string;
  /** `attribute` parsed (`targetResolver`). */
  resolve: TargetResolver;
  limit: number;
  /** The group it counts; undefined = the whole job. */
  group?: string;
}

/** The ask of one allocation of `group`; `resources` is `groupResources(group)`. */
export function askFor(job: Job, group: Group, resources: Resources, counts?: JobCounts): PlacementAsk {
  const distinct: DistinctRule[] = [];
  for (const [cs, scope] of [
    [job.constraints, undefined],
    [group.constraints, group.name],
  ] as const) {
    for (const c of cs) {
      if (!isDistinctOperator(c.operator)) continue;
      const limit = c.operator === 'distinct_property' ? Number.parseInt(c.value ?? '1', 10) : 1;
      const rule: DistinctRule = { operator: c.operator, attribute: c.attribute, resolve: targetResolver(c.attribute), limit: Number.isFinite(limit) && limit >= 1 ? limit : 1 };
      if (scope !== undefined) rule.group = scope;
      distinct.push(rule);
    }
  }
  const ask: PlacementAsk = {
    job,
    group,
    resources,
    dynamicPorts: dynamicPortCount(group),
    staticPorts: staticPorts(group),
    holds: { job: job.constraints.map(constraintPredicate), group: group.constraints.map(constraintPredicate) },
    distinct,
    capacityFilters: CAPACITY_FILTERS,
  };
  if (counts !== undefined) ask.counts = counts;
  ask.capacityFilters = CAPACITY_FILTERS.filter((f) => f.appliesTo === undefined || f.appliesTo(ask));
  return ask;
}

/** Why one node was rejected: an item to list (a status, a constraint, a port) or numbers. */
export interface Rejection {
  item?: string;
  needs?: number;
  free?: number;
  /** What the job wanted instead (one value per filter, e.g. its node pool). */
  wants?: string;
}

/** Rejections of one filter over many nodes, folded for `explain`. */
export interface RejectionSummary {
  /** Distinct items, in the order first seen. */
  items: string[];
  needs?: number;
  wants?: string;
  /** The most any rejected node had free: "how close did we come". */
  mostFree?: number;
}

export interface NodeFilter {
  reason: string;
  stage: 'node' | 'capacity';
  /** Undefined when the node passes. `usage` is given to `capacity` filters only. */
  check(node: Node, ask: PlacementAsk, usage: NodeUsage): Rejection | undefined;
  /** False when `check` passes every node for `ask` whatever they hold (skipped then). Absent: always runs. */
  appliesTo?(ask: PlacementAsk): boolean;
  /** One line for `count` rejected nodes, e.g. "2 nodes: draining". */
  explain(count: number, details: RejectionSummary): string;
}

const nodes = (n: number) => (n === 1 ? '1 node' : `${n} nodes`);
const MAX_ITEMS = 3;
const list = (items: string[], sep = ', ') => (items.length > MAX_ITEMS ? [...items.slice(0, MAX_ITEMS), '…'] : items).join(sep);

function constraintFilter(reason: string, which: 'job' | 'group'): NodeFilter {
  return {
    reason,
    stage: 'node',
    check(node, ask) {
      const holds = ask.holds[which];
      for (let i = 0; i < holds.length; i++) {
        if (!holds[i]!(node)) return { item: formatConstraint((which === 'job' ? ask.job.constraints : ask.group.constraints)[i]!) };
      }
      return undefined;
    },
    explain: (n, d) => `${nodes(n)}: ${which} constraint not met (${list(d.items, '; ')})`,
  };
}

function capacityFilter(reason: string, what: string, unit: string, key: keyof Resources): NodeFilter {
  return {
    reason,
    stage: 'capacity',
    check(node, ask, usage) {
      const free = node.resources[key] - usage.used[key];
      const needs = ask.resources[key];
      return needs > free ? { needs, free: Math.max(0, free) } : undefined;
    },
    explain: (n, d) => `${nodes(n)}: not enough ${what} (needs ${d.needs ?? 0} ${unit}, most free ${d.mostFree ?? 0} ${unit})`,
  };
}

const scopeName = (ask: PlacementAsk, r: DistinctRule) => (r.group === undefined ? `job ${ask.job.name}` : `group ${ask.job.name}.${r.group}`);

/** The chain, cheapest first. Order also fixes the order of explanation lines. */
export const FILTERS: readonly NodeFilter[] = [
  {
    reason: NODE_NOT_READY,
    stage: 'node',
    check: (node) => (node.status === 'ready' ? undefined : { item: node.status }),
    explain: (n, d) => `${nodes(n)}: not ready (${list(d.items)})`,
  },
  {
    reason: NODE_INELIGIBLE,
    stage: 'node',
    check: (node) => (node.eligibility === 'eligible' ? undefined : {}),
    explain: (n) => `${nodes(n)}: ineligible for scheduling`,
  },
  {
    reason: NODE_DRAINING,
    stage: 'node',
    check: (node) => (node.drain ? {} : undefined),
    explain: (n) => `${nodes(n)}: draining`,
  },
  {
    reason: NODE_POOL,
    stage: 'node',
    check(node, ask) {
      const wants = ask.job.nodePool ?? DEFAULT_NODE_POOL;
      const pool = node.pool ?? DEFAULT_NODE_POOL;
      return pool === wants ? undefined : { item: pool, wants };
    },
    explain: (n, d) => `${nodes(n)}: in another node pool (job wants '${d.wants ?? DEFAULT_NODE_POOL}')`,
  },
  {
    reason: DRIVER_UNHEALTHY,
    stage: 'node',
    check(node) {
      const d = node.drivers[REQUIRED_DRIVER];
      if (d === undefined) return { item: 'missing' };
      return d.healthy ? undefined : { item: d.detail || 'unhealthy' };
    },
    explain: (n, d) => `${nodes(n)}: ${REQUIRED_DRIVER} driver unavailable (${list(d.items, '; ')})`,
  },
  constraintFilter(JOB_CONSTRAINT, 'job'),
  constraintFilter(GROUP_CONSTRAINT, 'group'),
  // The distinct_* filters depend on the plan's own placements, so they are capacity-stage
  // (run per placement); they are map lookups, so they go before the port and resource checks.
  {
    reason: DISTINCT_HOSTS,
    stage: 'capacity',
    appliesTo: (ask) => ask.counts !== undefined && ask.distinct.some((r) => r.operator === 'distinct_hosts'),
    check(node, ask) {
      if (ask.counts === undefined) return undefined;
      for (const r of ask.distinct) {
        if (r.operator === 'distinct_hosts' && ask.counts.onNode(node.id, r.group) > 0) return { item: scopeName(ask, r) };
      }
      return undefined;
    },
    explain: (n, d) => `${nodes(n)}: excluded by distinct_hosts (already run an allocation of ${list(d.items)})`,
  },
  {
    reason: DISTINCT_PROPERTY,
    stage: 'capacity',
    appliesTo: (ask) => ask.counts !== undefined && ask.distinct.some((r) => r.operator === 'distinct_property'),
    check(node, ask) {
      if (ask.counts === undefined) return undefined;
      for (const r of ask.distinct) {
        if (r.operator !== 'distinct_property') continue;
        const v = r.resolve(node);
        // As Nomad: a node without the property cannot be told apart from others, so it is out.
        if (v === undefined) return { item: `${r.attribute} not set` };
        const n = ask.counts.perValue(r.attribute, r.group).get(v) ?? 0;
        if (n >= r.limit) return { item: `${r.attribute} = ${v} has ${n} of ${r.limit} for ${scopeName(ask, r)}` };
      }
      return undefined;
    },
    explain: (n, d) => `${nodes(n)}: excluded by distinct_property (${list(d.items, '; ')})`,
  },
  {
    reason: STATIC_PORT_IN_USE,
    stage: 'capacity',
    appliesTo: (ask) => ask.staticPorts.length > 0,
    check(_node, ask, usage) {
      const port = firstPortConflict(ask.staticPorts, usage.ports);
      return port === undefined ? undefined : { item: String(port) };
    },
    explain: (n, d) => `${nodes(n)}: static port in use (${list(d.items)})`,
  },
  capacityFilter(NOT_ENOUGH_CPU, 'cpu', 'MHz', 'cpuMhz'),
  capacityFilter(NOT_ENOUGH_MEMORY, 'memory', 'MB', 'memoryMb'),
  {
    reason: DYNAMIC_PORTS_EXHAUSTED,
    stage: 'capacity',
    appliesTo: (ask) => ask.dynamicPorts > 0,
    check(node, ask, usage) {
      if (ask.dynamicPorts === 0) return undefined;
      const free = freeDynamicPorts(node, usage.ports);
      return free < ask.dynamicPorts ? { needs: ask.dynamicPorts, free } : undefined;
    },
    explain: (n, d) => `${nodes(n)}: not enough free dynamic ports (needs ${d.needs ?? 0}, most free ${d.mostFree ?? 0})`,
  },
];

/** Filters that depend on the node alone: run once per group. */
export const NODE_FILTERS = FILTERS.filter((f) => f.stage === 'node');
/** Filters that depend on what the node already holds: run per placement. */
export const CAPACITY_FILTERS = FILTERS.filter((f) => f.stage === 'capacity');
/**
 * The filters that stopping other allocations could satisfy: a node rejected by one of
 * these (and by nothing before it) is a candidate for preemption (preempt.ts).
 */
export const RESOURCE_REASONS: ReadonlySet<string> = new Set([STATIC_PORT_IN_USE, NOT_ENOUGH_CPU, NOT_ENOUGH_MEMORY, DYNAMIC_PORTS_EXHAUSTED]);

/** Counts rejections per reason and turns them into explanation lines. */
export class FilterTally {
  private readonly byReason = new Map<string, { filter: NodeFilter; count: number; summary: RejectionSummary }>();

  record(filter: NodeFilter, r: Rejection): void {
    let e = this.byReason.get(filter.reason);
    if (e === undefined) {
      e = { filter, count: 0, summary: { items: [] } };
      this.byReason.set(filter.reason, e);
    }
    e.count++;
    if (r.item !== undefined && !e.summary.items.includes(r.item)) e.summary.items.push(r.item);
    if (r.needs !== undefined) e.summary.needs = r.needs;
    if (r.wants !== undefined) e.summary.wants = r.wants;
    if (r.free !== undefined) e.summary.mostFree = Math.max(e.summary.mostFree ?? r.free, r.free);
  }

  /** A copy, so per-placement tallies can start from the per-group one. */
  clone(): FilterTally {
    const t = new FilterTally();
    for (const [k, e] of this.byReason) t.byReason.set(k, { filter: e.filter, count: e.count, summary: { ...e.summary, items: [...e.summary.items] } });
    return t;
  }

  get total(): number {
    let n = 0;
    for (const e of this.byReason.values()) n += e.count;
    return n;
  }

  filtered(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of FILTERS) {
      const e = this.byReason.get(f.reason);
      if (e) out[f.reason] = e.count;
    }
    return out;
  }

  explanations(): string[] {
    const out: string[] = [];
    for (const f of FILTERS) {
      const e = this.byReason.get(f.reason);
      if (e) out.push(f.explain(e.count, e.summary));
    }
    return out;
  }
}

/** Runs `filters` on one node; records and returns false on the first rejection. */
export function passes(filters: readonly NodeFilter[], node: Node, ask: PlacementAsk, usage: NodeUsage, tally: FilterTally): boolean {
  return rejectedBy(filters, node, ask, usage, tally) === undefined;
}

/** Runs `filters` on one node; records the first rejection and returns its filter (undefined: passes). */
export function rejectedBy(filters: readonly NodeFilter[], node: Node, ask: PlacementAsk, usage: NodeUsage, tally: FilterTally): NodeFilter | undefined {
  for (const f of filters) {
    const r = f.check(node, ask, usage);
    if (r !== undefined) {
      tally.record(f, r);
      return f;
    }
  }
  return undefined;
}

/** The usage given to `node`-stage filters, which must not look at it. Never mutated. */
export const NO_USAGE: NodeUsage = { used: { cpuMhz: 0, memoryMb: 0 }, ports: NO_PORTS, groups: NO_GROUPS };
