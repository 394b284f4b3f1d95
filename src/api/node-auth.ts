import { createMiddleware } from 'hono/factory';
import type { NodeId } from '../core/ids.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import { unauthorized } from './errors.js';

/** The header every agent call carries after registration. */
export const NODE_SECRET_HEADER = 'x-karu-node-secret';

/**
 * Guards the agent routes `/v1/nodes/:id/…`: the caller must present the secret issued
 * to that very node, so one node cannot read or write another's allocations.
 */
export function requireNodeSecret(controlPlane: ControlPlane) {
  return createMiddleware(async (c, next) => {
    const nodeId = c.req.param('id') as NodeId | undefined;
    if (!nodeId) throw unauthorized('this route needs a node id in its path');
    const secret = c.req.header(NODE_SECRET_HEADER);
    if (!secret) throw unauthorized(`missing header ${NODE_SECRET_HEADER}: agent calls must carry the secret the node was given at registration`);
    if (!(await controlPlane.authenticateNode(nodeId, secret))) {
      throw unauthorized(`the secret does not match node '${nodeId}' (or the node is unknown); the agent should register again`);
    }
    await next();
  });
}
