import { isClientTerminal } from '../core/alloc.js';
import { disconnectPolicy } from '../core/disconnect.js';
import { withNodeEvent } from '../core/node.js';
import type { Node, NodeStatus } from '../core/node.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';
import { ConflictError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import { evalsForJobsOnNode } from './evals.js';

/**
 * Node status changes as store writes, shared by the node monitor (ready → disconnected
 * → down) and the cluster front door (back to ready). Each records a node event and asks
 * every job with work on the node to be re-evaluated, in the same commit.
 */

/** The node in its new status, with the change recorded in its events. */
export function withStatus(node: Node, status: NodeStatus, message: string, now: number): Node {
  const next: Node = { ...node, status, statusDescription: message, statusUpdatedAt: now, events: withNodeEvent(node.events, { time: now, status, message }) };
  if (status === 'disconnected') next.disconnectedAt = now;
  else delete next.disconnectedAt;
  return next;
}

/** The status change plus one evaluation per job with allocations meant to run on the node. */
export function transitionWrites(cache: StateCache, node: Node, status: NodeStatus, message: string, now: number): StateWrite[] {
  const writes: StateWrite[] = [{ kind: 'node', value: withStatus(node, status, message, now) }];
  for (const e of evalsForJobsOnNode(cache, node.id, 'node-update', now)) writes.push({ kind: 'eval', value: e });
  return writes;
}

/** A live allocation on the node and when, by its group's disconnect policy, it counts as lost. */
export interface LostDeadline {
  namespace: string;
  jobName: string;
  lostAfterMs: number;
}

/**
 * The `lostAfterMs` of every allocation on the node still meant to run, from its job's
 * current spec (a job or group that is gone: 0, nothing to wait for).
 */
export function lostAfterOnNode(cache: StateCache, node: Node): LostDeadline[] {
  const out: LostDeadline[] = [];
  for (const a of cache.allocsByNode(node.id)) {
    if (a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus)) continue;
    const group = cache.job(a.namespace, a.jobName)?.groups.find((g) => g.name === a.group);
    out.push({ namespace: a.namespace, jobName: a.jobName, lostAfterMs: group ? disconnectPolicy(group).lostAfterMs : 0 });
  }
  return out;
}

/**
 * A node heard from again (heartbeat or registration) after it was disconnected or down:
 * evaluations for its jobs, so an original that kept running and its replacement are
 * settled to exactly the desired count. Nothing for a node that was ready.
 */
export function returnEvals(cache: StateCache, before: Node | undefined, now: number): StateWrite[] {
  if (before === undefined || (before.status !== 'disconnected' && before.status !== 'down')) return [];
  return evalsForJobsOnNode(cache, before.id, 'node-update', now).map((e): StateWrite => ({ kind: 'eval', value: e }));
}

/**
 * Read-modify-write of a node with compare-and-swap: heartbeats, the monitor, drains and
 * admins all write the node, and a blind write from one would undo another's change (a
 * heartbeat racing a drain would re-enable the node). `build` gets the node as stored and
 * returns the writes (the node's own first) or undefined to write nothing; it is called
 * again on a conflict. Returns the revision committed, or undefined when nothing was written.
 */
export async function updateNode(stateStore: StateStore, nodeId: NodeId, build: (current: Node) => StateWrite[] | undefined, attempts = 5): Promise<number | undefined> {
  for (let i = 0; ; i++) {
    const found = await stateStore.getNode(nodeId);
    if (!found) return undefined;
    const writes = build(found.value);
    if (!writes || writes.length === 0) return undefined;
    const [first, ...rest] = writes;
    try {
      return await stateStore.commit([{ ...first!, expectedModRevision: found.modRevision }, ...rest]);
    } catch (e) {
      if (!(e instanceof ConflictError) || i + 1 >= attempts) throw e;
    }
  }
}
