import { Hono } from 'hono';
import type { AllocView } from '../../core/alloc.js';
import { isKaruError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { ControlPlane } from '../../controllers/control-plane.js';
import type { ApiDeps } from '../deps.js';
import { proxyAllocLogs } from '../logs-proxy.js';
import { resolveOne } from '../resolve.js';
import { allocListQuery, logsQuery, parseQuery } from '../schemas.js';
import { newestAllocsFirst } from '../views.js';
import { resolveNode } from './nodes.js';

/**
 * An allocation by full id or unique prefix. The control plane resolves first; when it
 * cannot, the read model is searched so the answer can say *why* (none vs. several).
 */
export function resolveAlloc(cp: ControlPlane, typed: string): AllocView {
  const id = cp.resolveAllocId(typed);
  const found = id === undefined ? undefined : cp.state.alloc(id);
  return found ?? resolveOne('allocation', typed, cp.state.allocs(), (a) => a.id);
}

/** /v1/allocations: list, inspect, and logs (streamed from the node's agent). */
export function allocationRoutes({ controlPlane: cp, fetchAgent }: ApiDeps) {
  return new Hono()
    .get('/allocations', (c) => {
      const q = parseQuery(allocListQuery, c.req.query());
      let allocs: AllocView[];
      if (q.node) {
        // A node that is gone may still have allocations on record: fall back to the exact id.
        const nodeId = cp.state.node(q.node as NodeId) ? (q.node as NodeId) : tryResolveNode(cp, q.node);
        allocs = cp.state.allocsByNode(nodeId);
      } else if (q.namespace && q.job) {
        allocs = cp.state.allocsByJob(q.namespace, q.job);
      } else {
        allocs = cp.state.allocs();
      }
      const filtered = allocs.filter((a) => (!q.namespace || a.namespace === q.namespace) && (!q.job || a.jobName === q.job));
      return c.json(newestAllocsFirst(filtered));
    })
    .get('/allocations/:id', (c) => c.json(resolveAlloc(cp, c.req.param('id'))))
    .get('/allocations/:id/logs', async (c) => {
      const q = parseQuery(logsQuery, c.req.query());
      const alloc = resolveAlloc(cp, c.req.param('id'));
      return proxyAllocLogs({
        alloc,
        endpoint: cp.agentEndpoint(alloc.nodeId),
        task: q.task,
        follow: q.follow,
        tail: q.tail,
        fetchAgent,
        signal: c.req.raw.signal,
      });
    });
}

function tryResolveNode(cp: ControlPlane, typed: string): NodeId {
  try {
    return resolveNode(cp, typed).id;
  } catch (e) {
    if (isKaruError(e) && e.code === 'NOT_FOUND') return typed as NodeId;
    throw e;
  }
}
