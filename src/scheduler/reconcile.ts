import { isClientTerminal } from '../core/alloc.js';
import type { AllocView } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Group, Job, ReschedulePolicy, Task } from '../core/job.js';
import type { Node } from '../core/node.js';
import { constraintHolds } from './constraints.js';
import { splitDisconnected, survivorOrder } from './disconnect.js';
import { splitMigrating } from './migrate.js';
import type { SchedulerState } from './types.js';

/**
 * Reconcile: what the job wants (groups × count, at its current version) against what
 * exists (its allocations), sorted into buckets per group. Decides *what* must change,
 * never *where*: placement is the feasibility + ranking stage's business.
 *
 * Allocations whose desired status is already `stop` are on their way out and do not
 * count, with one exception: a failed allocation that was stopped without a replacement
 * keeps its index, so a group whose reschedule attempts ran out stays short instead of
 * being refilled by the next evaluation ("a failed allocation simply stays failed").
 */

/** Why a replacement or new allocation is needed. */
export type PlacementKind = 'new' | 'lost' | 'reschedule' | 'replace-complete' | 'update' | 'migrate';

export interface PlacementRequest {
  group: Group;
  index: number;
  kind: PlacementKind;
  /** The allocation this one replaces. */
  previous?: AllocView;
  rescheduleTimes: number[];
  /** Where the replaced allocation failed: ranked down so the replacement goes elsewhere. */
  avoidNodeId?: NodeId;
  /** The only node the replacement may go to (a rebalance move); unplaceable there: not placed, not a failure. */
  targetNodeId?: NodeId;
}

export interface StopRequest {
  alloc: AllocView;
  reason: string;
}

export interface GroupBuckets {
  /** Left running (including those updated in place and finished batch work). */
  keep: AllocView[];
  /** Subset of `keep` carried to the job's current version without a restart. */
  inPlace: AllocView[];
  stop: StopRequest[];
  /** On a down or vanished node: the server marks them lost on the agent's behalf. */
  lost: AllocView[];
  place: PlacementRequest[];
}

export interface Reconciliation {
  job: Job | undefined;
  /** Per group name; includes groups that exist only in old allocations. */
  groups: Map<string, GroupBuckets>;
}

/** Human reasons, written to `desiredDescription` of stopped allocations. */
export const STOP_REASONS = {
  jobStopped: 'job stopped',
  jobDeregistered: 'job deregistered',
  groupRemoved: 'group removed from job',
  nodeDown: 'node down: allocation lost, replaced',
  nodeMissing: 'node gone: allocation lost, replaced',
  lost: 'allocation lost, replaced',
  countReduced: 'count reduced',
  duplicate: 'duplicate of another allocation with the same index',
  serviceCompleted: 'completed; replaced because a service is meant to run',
  rescheduled: 'failed; rescheduled',
  notRescheduled: (why: string) => `failed; not rescheduled: ${why}`,
  updated: (version: number) => `replaced by job version ${version}`,
} as const;

/** Sorts the job's allocations into buckets per group; `now` drives the reschedule policy. */
export function reconcile(state: SchedulerState, namespace: string, jobName: string, now: number): Reconciliation {
  const job = state.job(namespace, jobName);
  const allocs = state.allocsByJob(namespace, jobName);
  const groups = new Map<string, GroupBuckets>();
  const bucket = (name: string) => {
    let b = groups.get(name);
    if (b === undefined) {
      b = { keep: [], inPlace: [], stop: [], lost: [], place: [] };
      groups.set(name, b);
    }
    return b;
  };

  if (job === undefined || job.stopped) {
    const reason = job === undefined ? STOP_REASONS.jobDeregistered : STOP_REASONS.jobStopped;
    for (const a of allocs) {
      if (a.desiredStatus !== 'run') continue;
      const b = bucket(a.group);
      b.stop.push({ alloc: a, reason });
      if (nodeLost(state, a)) b.lost.push(a);
    }
    return { job, groups };
  }

  const byGroup = new Map<string, AllocView[]>();
  for (const a of allocs) {
    const list = byGroup.get(a.group);
    if (list) list.push(a);
    else byGroup.set(a.group, [a]);
  }
  for (const [name, list] of byGroup) {
    if (job.groups.some((g) => g.name === name)) continue;
    for (const a of list) {
      if (a.desiredStatus !== 'run') continue;
      const b = bucket(name);
      b.stop.push({ alloc: a, reason: STOP_REASONS.groupRemoved });
      if (nodeLost(state, a)) b.lost.push(a);
    }
  }
  const replaced = new Set<AllocId>();
  for (const a of allocs) if (a.previousAllocId !== undefined) replaced.add(a.previousAllocId);
  for (const group of job.groups) {
    reconcileGroup(state, job, group, byGroup.get(group.name) ?? [], replaced, now, bucket(group.name));
  }
  return { job, groups };
}

/** One index of a group and what happens to it. */
interface Slot {
  index: number;
  alloc?: AllocView;
  /** The allocation stays (as is, or updated in place when `inPlace`). */
  keep: boolean;
  inPlace: boolean;
  stopReason?: string;
  lost: boolean;
  placement?: PlacementRequest;
}

function reconcileGroup(
  state: SchedulerState,
  job: Job,
  group: Group,
  all: readonly AllocView[],
  replaced: ReadonlySet<AllocId>,
  now: number,
  out: GroupBuckets,
): void {
  const slots = new Map<number, Slot>();
  let updateBudget = destructiveUpdateBudget(job);
  // 0. Allocations on disconnected nodes follow the group's disconnect policy (disconnect.ts).
  const cut = splitDisconnected(state, group, all, now);
  // 0b. Allocations being moved (drain, rebalance) are replaced before they stop (migrate.ts).
  const moving = splitMigrating(state, group, cut.regular, now);
  const allocs = moving.regular;
  out.stop.push(...moving.stop);
  out.keep.push(...moving.aside);
  out.stop.push(...cut.stop);
  out.lost.push(...cut.lost);
  out.keep.push(...cut.aside);
  const survivor = survivorOrder(state, job, group, replaced);

  // 1. Allocations that hold an index. Finished batch work of an older version is history:
  //    it neither counts nor is touched, so a new version of a batch job runs again.
  const holders = new Map<number, AllocView[]>();
  for (const a of allocs) {
    if (a.desiredStatus !== 'run') continue;
    if (job.type === 'batch' && isClientTerminal(a.clientStatus) && a.clientStatus !== 'lost' && a.jobVersion !== job.version) continue;
    const list = holders.get(a.index);
    if (list) list.push(a);
    else holders.set(a.index, [a]);
  }

  for (const list of holders.values()) {
    list.sort((x, y) => preference(x, job) - preference(y, job) || survivor(x, y));
    const [primary, ...dupes] = list as [AllocView, ...AllocView[]];
    for (const d of dupes) {
      out.stop.push({ alloc: d, reason: STOP_REASONS.duplicate });
      if (nodeLost(state, d)) out.lost.push(d);
    }
    slots.set(primary.index, classify(state, job, group, primary, now, () => updateBudget-- > 0));
  }
  for (const s of cut.slots) slots.set(s.index, s);
  for (const s of moving.slots) {
    if (!slots.has(s.index)) slots.set(s.index, s);
    else out.keep.push(s.alloc); // a disconnected claimant holds it: keep running, move later
  }

  // 2. Indexes left to a failed allocation that was stopped and never replaced: they stay
  //    taken, unless the reschedule policy allows a replacement by now.
  const failedByIndex = new Map<number, AllocView>();
  for (const a of allocs) {
    // A preempted allocation did not fail on its own: its index is free to refill.
    if (a.desiredStatus !== 'stop' || a.clientStatus !== 'failed' || a.jobVersion !== job.version || a.preemptedBy !== undefined) continue;
    if (slots.has(a.index) || replaced.has(a.id)) continue;
    const seen = failedByIndex.get(a.index);
    if (seen === undefined || a.createdAt > seen.createdAt) failedByIndex.set(a.index, a);
  }
  for (const [index, a] of failedByIndex) {
    const d = rescheduleDecision(a.rescheduleTimes, group.reschedule, now);
    const slot: Slot = { index, alloc: a, keep: false, inPlace: false, lost: false };
    if (d.allowed) slot.placement = { group, index, kind: 'reschedule', previous: a, rescheduleTimes: d.times, avoidNodeId: a.nodeId };
    slots.set(index, slot);
  }

  // 3. Count went down: give up the highest indexes. Their stops already decided (failed,
  //    lost, updated) stand; only the replacements are dropped.
  const ordered = [...slots.values()].sort((x, y) => x.index - y.index);
  while (ordered.length > group.count) {
    const s = ordered.pop()!;
    slots.delete(s.index);
    if (s.stopReason === undefined && s.alloc?.desiredStatus === 'run') out.stop.push({ alloc: s.alloc, reason: STOP_REASONS.countReduced });
    else if (s.stopReason !== undefined && s.alloc) out.stop.push({ alloc: s.alloc, reason: s.stopReason });
    if (s.lost && s.alloc) out.lost.push(s.alloc);
  }

  // 4. Everything else as decided; then fill the lowest free indexes up to count.
  for (const s of ordered) {
    if (s.alloc && s.stopReason !== undefined) out.stop.push({ alloc: s.alloc, reason: s.stopReason });
    if (s.alloc && s.lost) out.lost.push(s.alloc);
    if (s.alloc && s.keep) out.keep.push(s.alloc);
    if (s.alloc && s.inPlace) out.inPlace.push(s.alloc);
    if (s.placement) out.place.push(s.placement);
  }
  for (let index = 0; slots.size < group.count; index++) {
    if (slots.has(index)) continue;
    slots.set(index, { index, keep: false, inPlace: false, lost: false });
    out.place.push({ group, index, kind: 'new', rescheduleTimes: [] });
  }
  out.place.sort((x, y) => x.index - y.index);
}

/** Which of several allocations claiming one index to keep: live, current version, newest. */
function preference(a: AllocView, job: Job): number {
  return (isClientTerminal(a.clientStatus) ? 2 : 0) + (a.jobVersion === job.version ? 0 : 1);
}

function classify(state: SchedulerState, job: Job, group: Group, a: AllocView, now: number, takeUpdate: () => boolean): Slot {
  const slot: Slot = { index: a.index, alloc: a, keep: false, inPlace: false, lost: false };
  const node = state.node(a.nodeId);
  const replace = (kind: PlacementKind, rescheduleTimes: number[], avoidNodeId?: NodeId) => {
    slot.placement = { group, index: a.index, kind, previous: a, rescheduleTimes };
    if (avoidNodeId !== undefined) slot.placement.avoidNodeId = avoidNodeId;
  };

  if (a.clientStatus === 'lost' || ((node === undefined || node.status === 'down') && !isClientTerminal(a.clientStatus))) {
    slot.lost = a.clientStatus !== 'lost';
    slot.stopReason = node === undefined ? STOP_REASONS.nodeMissing : node.status === 'down' ? STOP_REASONS.nodeDown : STOP_REASONS.lost;
    replace('lost', a.rescheduleTimes);
    return slot;
  }
  if (a.clientStatus === 'failed') {
    const d = rescheduleDecision(a.rescheduleTimes, group.reschedule, now);
    if (d.allowed) {
      slot.stopReason = STOP_REASONS.rescheduled;
      replace('reschedule', d.times, a.nodeId);
    } else {
      slot.stopReason = STOP_REASONS.notRescheduled(d.why);
    }
    return slot;
  }
  if (a.clientStatus === 'complete') {
    if (job.type === 'batch') {
      slot.keep = true; // done: batch work is not run twice
    } else {
      slot.stopReason = STOP_REASONS.serviceCompleted;
      replace('replace-complete', a.rescheduleTimes);
    }
    return slot;
  }
  if (node !== undefined && node.status === 'disconnected') {
    slot.keep = onDisconnectedNode(a);
    return slot;
  }
  if (a.jobVersion !== job.version) {
    const old = state.jobVersion?.(job.namespace, job.name, a.jobVersion)?.groups.find((g) => g.name === group.name);
    if (node !== undefined && !needsNewContainer(old, group) && constraintsHold(job, group, node)) {
      slot.keep = true;
      slot.inPlace = true;
    } else if (takeUpdate()) {
      slot.stopReason = STOP_REASONS.updated(job.version);
      replace('update', []);
    } else {
      slot.keep = true; // waits for a later evaluation of the rollout
    }
    return slot;
  }
  slot.keep = true;
  return slot;
}

/**
 * An allocation on a disconnected node that reached `classify`: the disconnect policy
 * (disconnect.ts, step 0 of reconcileGroup) takes every live one first, so this is only
 * a safe fallback: keep it, the node may come back.
 */
function onDisconnectedNode(_alloc: AllocView): boolean {
  return true;
}

/**
 * Seam for rolling updates: how many allocations one evaluation may replace for a new
 * job version. v1 replaces all at once; the deployment work will return
 * `update.maxParallel` minus the ones still in flight.
 */
function destructiveUpdateBudget(_job: Job): number {
  return Number.POSITIVE_INFINITY;
}

function nodeLost(state: SchedulerState, a: AllocView): boolean {
  if (isClientTerminal(a.clientStatus)) return false;
  const node = state.node(a.nodeId);
  return node === undefined || node.status === 'down';
}

function constraintsHold(job: Job, group: Group, node: Node): boolean {
  return job.constraints.every((c) => constraintHolds(c, node)) && group.constraints.every((c) => constraintHolds(c, node));
}

/** Whether a failed allocation may be replaced now, and the times its replacement carries. */
export interface RescheduleDecision {
  allowed: boolean;
  /** The chain's replacement times to carry, with `now` appended when allowed. */
  times: number[];
  why: string;
}

/**
 * The reschedule policy: at most `attempts` replacements within the last `intervalMs`.
 * Times older than the interval are dropped from the chain: they can no longer matter.
 */
export function rescheduleDecision(times: readonly number[], policy: ReschedulePolicy, now: number): RescheduleDecision {
  if (policy.attempts <= 0) return { allowed: false, times: [...times], why: 'rescheduling disabled' };
  const recent = times.filter((t) => now - t < policy.intervalMs);
  if (recent.length >= policy.attempts) {
    return { allowed: false, times: recent, why: `${recent.length} of ${policy.attempts} attempts used within ${formatMs(policy.intervalMs)}` };
  }
  return { allowed: true, times: [...recent, now], why: '' };
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * True when the change from `old` to `next` cannot be applied to running containers:
 * a different task set, image, command, args, env, resources or ports. Count, restart,
 * reschedule and constraints are the server's business and update in place. Without the
 * old spec (history not available) we cannot tell, so we assume a new container is needed.
 */
export function needsNewContainer(old: Group | undefined, next: Group): boolean {
  if (old === undefined || old.tasks.length !== next.tasks.length) return true;
  for (const t of next.tasks) {
    const o = old.tasks.find((x) => x.name === t.name);
    if (o === undefined || taskDiffers(o, t)) return true;
  }
  return false;
}

function taskDiffers(a: Task, b: Task): boolean {
  return (
    a.image !== b.image ||
    a.command !== b.command ||
    !sameList(a.args, b.args) ||
    !sameRecord(a.env, b.env) ||
    a.resources.cpuMhz !== b.resources.cpuMhz ||
    a.resources.memoryMb !== b.resources.memoryMb ||
    JSON.stringify(a.mounts ?? []) !== JSON.stringify(b.mounts ?? []) ||
    !sameList(a.ports.map(portKey).sort(), b.ports.map(portKey).sort())
  );
}

const portKey = (p: Task['ports'][number]) => `${p.label}:${p.to}:${p.static ?? ''}`;
const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
