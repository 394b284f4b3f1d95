import { Hono } from 'hono';
import type { NodeId } from '../../core/ids.js';
import type { Node } from '../../core/node.js';
import type { ControlPlane } from '../../controllers/control-plane.js';
import type { ApiDeps } from '../deps.js';
import { resolveOne } from '../resolve.js';
import { nodeView } from '../views.js';
import { nodeDetail } from '../drain-view.js';

/** A node by exact id, exact name, or unique id prefix. */
export function resolveNode(cp: ControlPlane, typed: string): Node {
  return cp.state.node(typed as NodeId) ?? resolveOne('node', typed, cp.state.nodes(), (n) => n.id, (n) => n.name);
}

/** /v1/nodes (read side; the agent's own routes are in agent.ts). */
export function nodeRoutes({ controlPlane: cp }: ApiDeps) {
  return new Hono()
    .get('/nodes', (c) => {
      const nodes = [...cp.state.nodes()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
      return c.json(nodes.map((n) => nodeView(n, cp.state.allocsByNode(n.id))));
    })
    .get('/nodes/:id', (c) => {
      const node = resolveNode(cp, c.req.param('id'));
      return c.json(nodeDetail(cp, node));
    });
}
