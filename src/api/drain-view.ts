import { allocName, isClientTerminal } from '../core/alloc.js';
import { hostPathsOf } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { StateCache } from '../store/state.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import type { DrainProgress, NodeDetail } from '../client/types.js';
import { nodeView } from './views.js';

/**
 * A draining node's progress, from the read model: what is left on it, what is being
 * moved, what waits (batch work) and what cannot move (host mounts). Undefined when the
 * node is not draining. Pure.
 */
export function drainProgress(state: Pick<StateCache, 'allocsByNode' | 'job'>, node: Node): DrainProgress | undefined {
  if (!node.drain || !node.drainStrategy) return undefined;
  const p: DrainProgress = { startedAt: node.drainStrategy.startedAt, deadlineAt: node.drainStrategy.deadlineAt, left: 0, migrating: 0, batch: 0, notMovable: [] };
  for (const a of state.allocsByNode(node.id)) {
    if (a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus)) continue;
    p.left += 1;
    if (a.migrate?.started) {
      p.migrating += 1;
      continue;
    }
    const job = state.job(a.namespace, a.jobName);
    const group = job?.groups.find((g) => g.name === a.group);
    const paths = group ? hostPathsOf(group) : [];
    if (paths.length > 0) p.notMovable.push({ allocId: a.id, name: allocName(a), why: `not movable (uses host path ${paths.join(', ')})` });
    else if (job?.type === 'batch') p.batch += 1;
  }
  return p;
}

/** A node as GET /v1/nodes/:id shows it: usage, and the drain's progress while it drains. */
export function nodeDetail(cp: ControlPlane, node: Node): NodeDetail {
  const detail: NodeDetail = nodeView(node, cp.state.allocsByNode(node.id));
  const progress = drainProgress(cp.state, node);
  if (progress) detail.drainProgress = progress;
  return detail;
}
