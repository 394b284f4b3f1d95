import { Hono } from 'hono';
import { NotFoundError } from '../../core/errors.js';
import { DEFAULT_DRAIN_DEADLINE_MS } from '../../controllers/node-admin.js';
import type { RebalanceResponse } from '../../client/types.js';
import type { ApiDeps } from '../deps.js';
import { nodeDetail } from '../drain-view.js';
import { drainBody, eligibilityBody, parseJsonBody, rebalanceBody } from '../schemas.js';
import { resolveNode } from './nodes.js';

/** The operator's node controls: eligibility, drain, rebalance. */
export function nodeAdminRoutes({ controlPlane: cp }: ApiDeps) {
  return new Hono()
    .post('/nodes/:id/eligibility', async (c) => {
      const node = resolveNode(cp, c.req.param('id'));
      const { eligible } = await parseJsonBody(c, eligibilityBody);
      return c.json(nodeDetail(cp, await cp.setNodeEligibility(node.id, eligible)));
    })
    .post('/nodes/:id/drain', async (c) => {
      const node = resolveNode(cp, c.req.param('id'));
      const body = await parseJsonBody(c, drainBody, { emptyOk: true });
      const next = await cp.drainNode(node.id, { enable: body.enable, deadlineMs: body.deadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS, ignoreSystem: body.ignoreSystem });
      return c.json(nodeDetail(cp, next));
    })
    .post('/rebalance', async (c) => {
      const body = await parseJsonBody(c, rebalanceBody, { emptyOk: true });
      if (body.job !== undefined && !cp.state.job(body.namespace, body.job)) throw new NotFoundError('job', `${body.namespace}/${body.job}`);
      const { plan, batchId } = await cp.rebalance({
        dryRun: body.dryRun,
        maxParallel: body.maxParallel,
        ...(body.job !== undefined ? { job: { namespace: body.namespace, name: body.job } } : {}),
      });
      const res: RebalanceResponse = { dryRun: body.dryRun, ...plan, ...(batchId !== undefined ? { batchId } : {}) };
      return c.json(res);
    });
}
