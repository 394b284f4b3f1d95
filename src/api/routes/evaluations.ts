import { Hono } from 'hono';
import type { EvalId } from '../../core/ids.js';
import type { ApiDeps } from '../deps.js';
import { resolveOne } from '../resolve.js';
import { evalListQuery, parseQuery } from '../schemas.js';
import { newestEvalsFirst } from '../views.js';

/** /v1/evaluations: why the scheduler did what it did. */
export function evaluationRoutes({ controlPlane: cp }: ApiDeps) {
  return new Hono()
    .get('/evaluations', (c) => {
      const { namespace, job } = parseQuery(evalListQuery, c.req.query());
      const filter: { namespace?: string; jobName?: string } = {};
      if (namespace) filter.namespace = namespace;
      if (job) filter.jobName = job;
      return c.json(newestEvalsFirst(cp.state.evals(filter)));
    })
    .get('/evaluations/:id', (c) => {
      const typed = c.req.param('id');
      const ev = cp.state.eval(typed as EvalId) ?? resolveOne('evaluation', typed, cp.state.evals(), (e) => e.id);
      return c.json(ev);
    });
}
