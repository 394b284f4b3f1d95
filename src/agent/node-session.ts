import type { KaruClient } from '../client/client.js';
import type { RegisterNodeRequest } from '../client/types.js';
import type { NodeId } from '../core/ids.js';
import type { AllocStatus } from '../core/alloc.js';
import type { AgentServerApi } from './agent.js';

/**
 * A KaruClient that sends the node secret once it has one: registration hands out the
 * secret, every later agent call must carry it.
 */
export function nodeSession(base: KaruClient): AgentServerApi {
  let current = base;
  return {
    async registerNode(req: RegisterNodeRequest) {
      const res = await (req.secret ? base.withNodeSecret(req.secret) : base).registerNode(req);
      current = base.withNodeSecret(res.secret);
      return res;
    },
    // The options carry the beat's deadline (about the TTL): without them a stuck beat held the loop for the client's 30 s default.
    heartbeat: (nodeId: NodeId, req, opts) => current.heartbeat(nodeId, req, opts),
    nodeAllocations: (nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal, opts?: { delta?: boolean }) => current.nodeAllocations(nodeId, index, waitMs, signal, opts),
    updateAllocStatus: (nodeId: NodeId, updates: AllocStatus[]) => current.updateAllocStatus(nodeId, updates),
    catalog: (opts) => current.catalog(opts),
  };
}
