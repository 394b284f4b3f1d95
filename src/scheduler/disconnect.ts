import { isClientTerminal, isLive } from '../core/alloc.js';
import type { AllocView } from '../core/alloc.js';
import { disconnectPolicy } from '../core/disconnect.js';
import type { Group, Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { PlacementRequest, StopRequest } from './reconcile.js';
import { scoreNode } from './rank.js';
import type { SchedulerState } from './types.js';

/**
 * The disconnect policy in the reconciler (core/disconnect.ts has the policy itself).
 *
 * An allocation whose node missed its heartbeats but is not yet `down` is *disconnected*:
 * it may still run, the server just cannot tell. Per allocation:
 *   - past its group's `lostAfterMs` (counted from `node.disconnectedAt`): lost — stopped,
 *     marked lost, and replaced unless a replacement already holds its index;
 *   - else with `replace`: kept (desired status stays `run`, so it carries on if it does
 *     run) and a replacement is placed for its index; once that replacement exists, the
 *     original is set aside: it neither counts nor is touched until its node returns;
 *   - else: kept, holding its index; nothing is placed.
 * When the node returns, the original and its replacement both claim the index, and
 * `survivorOrder` decides which one the reconciler keeps (the other is stopped as a
 * duplicate), so the running count goes back to exactly `count`.
 */

export const DISCONNECT_REASONS = {
  lost: (after: string) => `node disconnected longer than ${after}: allocation lost, replaced`,
} as const;

/** What the reconciler should do with one index, decided here; same shape as its own slots. */
export interface DisconnectSlot {
  index: number;
  alloc: AllocView;
  keep: boolean;
  inPlace: boolean;
  lost: boolean;
  stopReason?: string;
  placement?: PlacementRequest;
}

export interface DisconnectSplit {
  /** For the reconciler's ordinary per-index logic. */
  regular: AllocView[];
  /** Indexes decided here; no regular allocation claims them. */
  slots: DisconnectSlot[];
  /** Disconnected originals that something else stands in for: left alone. */
  aside: AllocView[];
  /** Disconnected past lostAfter while something else holds their index. */
  stop: StopRequest[];
  lost: AllocView[];
}

/** True while the node is cut off but not declared down. */
export function isDisconnected(node: Node | undefined): node is Node {
  return node !== undefined && node.status === 'disconnected';
}

/** When the allocation on a disconnected node counts as lost. */
export function lostAt(node: Node, group: Pick<Group, 'disconnect'>): number {
  return (node.disconnectedAt ?? node.statusUpdatedAt) + disconnectPolicy(group).lostAfterMs;
}

/** Splits a group's allocations into those on disconnected nodes (decided here) and the rest. */
export function splitDisconnected(state: SchedulerState, group: Group, allocs: readonly AllocView[], now: number): DisconnectSplit {
  const out: DisconnectSplit = { regular: [], slots: [], aside: [], stop: [], lost: [] };
  const policy = disconnectPolicy(group);
  const cut = (a: AllocView) => a.desiredStatus === 'run' && !isClientTerminal(a.clientStatus) && isDisconnected(state.node(a.nodeId));
  const replacedIds = new Set<string>();
  for (const a of allocs) if (a.desiredStatus === 'run' && a.previousAllocId !== undefined) replacedIds.add(a.previousAllocId);

  for (const a of allocs) {
    if (!cut(a)) {
      out.regular.push(a);
      continue;
    }
    const node = state.node(a.nodeId)!;
    // Someone else stands in for this index: its replacement, or another claimant that is not cut off.
    const covered = replacedIds.has(a.id) || allocs.some((b) => b !== a && b.index === a.index && b.desiredStatus === 'run' && !cut(b) && !isClientTerminal(b.clientStatus));
    if (now >= lostAt(node, group)) {
      const reason = DISCONNECT_REASONS.lost(formatMs(policy.lostAfterMs));
      if (covered) {
        out.stop.push({ alloc: a, reason });
        out.lost.push(a);
      } else {
        out.slots.push({ index: a.index, alloc: a, keep: false, inPlace: false, lost: true, stopReason: reason, placement: replacement(group, a) });
      }
      continue;
    }
    if (covered) out.aside.push(a);
    else if (policy.replace) out.slots.push({ index: a.index, alloc: a, keep: true, inPlace: false, lost: false, placement: replacement(group, a) });
    else out.slots.push({ index: a.index, alloc: a, keep: true, inPlace: false, lost: false });
  }
  // Two cut-off claimants of one index (a replacement's node was cut off too): only the
  // newest gets a slot; the older is set aside, so one index never gets two replacements.
  const byIndex = new Map<number, DisconnectSlot>();
  for (const s of out.slots) {
    const seen = byIndex.get(s.index);
    if (seen === undefined) byIndex.set(s.index, s);
    else {
      const [older, newer] = seen.alloc.createdAt <= s.alloc.createdAt ? [seen, s] : [s, seen];
      byIndex.set(s.index, newer);
      if (older.lost) {
        out.stop.push({ alloc: older.alloc, reason: older.stopReason! });
        out.lost.push(older.alloc);
      } else out.aside.push(older.alloc);
    }
  }
  out.slots = [...byIndex.values()];
  return out;
}

function replacement(group: Group, a: AllocView): PlacementRequest {
  return { group, index: a.index, kind: 'lost', previous: a, rescheduleTimes: [...a.rescheduleTimes] };
}

/**
 * Orders several live claimants of one index, best first, once the reconciler's own
 * preference (live, current version) ties. Copies on a down or vanished node are last;
 * then, when one of them has been replaced (`replaced`: ids some allocation names as its
 * previous one), the group's `reconcile` option:
 *   keep_original    — the oldest copy;
 *   keep_replacement — the newest copy (also the order for any other duplicate);
 *   best_score       — a running copy over one still starting, then the higher node
 *                      score (the ranking the scheduler places with, as if placing that
 *                      copy anew where it is), ties to the oldest (fewest moves).
 */
export function survivorOrder(state: SchedulerState, job: Job, group: Group, replaced: ReadonlySet<string>): (x: AllocView, y: AllocView) => number {
  const policy = disconnectPolicy(group);
  const gone = (a: AllocView) => {
    const n = state.node(a.nodeId);
    return n === undefined || n.status === 'down' ? 1 : 0;
  };
  const scores = new Map<string, number>();
  const score = (a: AllocView) => {
    let s = scores.get(a.id);
    if (s === undefined) scores.set(a.id, (s = copyScore(state, job, group, a)));
    return s;
  };
  return (x, y) => {
    const byGone = gone(x) - gone(y);
    if (byGone !== 0) return byGone;
    const newestFirst = y.createdAt - x.createdAt;
    // The policy is for an original meeting its replacement; other duplicates (a race,
    // a bug) keep the newest, as before.
    if (!replaced.has(x.id) && !replaced.has(y.id)) return newestFirst;
    switch (policy.reconcile) {
      case 'keep_original':
        return -newestFirst;
      case 'keep_replacement':
        return newestFirst;
      case 'best_score': {
        const running = Number(y.clientStatus === 'running') - Number(x.clientStatus === 'running');
        if (running !== 0) return running;
        const d = score(y) - score(x);
        return Math.abs(d) > 1e-9 ? d : -newestFirst;
      }
    }
  };
}

/** The node score of `a` where it runs, counting everything else live on that node. */
function copyScore(state: SchedulerState, job: Job, group: Group, a: AllocView): number {
  const node = state.node(a.nodeId);
  if (node === undefined) return Number.NEGATIVE_INFINITY;
  const used = { cpuMhz: 0, memoryMb: 0 };
  let collisions = 0;
  for (const b of state.allocsByNode(node.id)) {
    if (b.id === a.id || !isLive(b)) continue;
    used.cpuMhz += b.resources.cpuMhz;
    used.memoryMb += b.resources.memoryMb;
    if (b.namespace === a.namespace && b.jobName === a.jobName && b.group === a.group && b.desiredStatus === 'run') collisions++;
  }
  return scoreNode({ node, used, ask: a.resources, strategy: job.placement, collisions, groupCount: group.count });
}

function formatMs(ms: number): string {
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
