import { Hono } from 'hono';
import { NotFoundError } from '../../core/errors.js';
import type { JobDetail, RegisterJobResponse, StopJobResponse } from '../../client/types.js';
import { assertNoJobClaimConflicts } from '../../controllers/catalog-claims.js';
import type { ApiDeps } from '../deps.js';
import { jobListQuery, parseJsonBody, parseQuery, registerJobBody, stopJobQuery } from '../schemas.js';
import { allocSummary, byJobKey, jobListEntry, jobStatus, MAX_JOB_EVALS, newestAllocsFirst, newestEvalsFirst } from '../views.js';

/** /v1/jobs: submit, list, inspect, version history, stop. */
export function jobRoutes({ controlPlane: cp, validateJob }: ApiDeps) {
  return new Hono()
    .post('/jobs', async (c) => {
      const body = await parseJsonBody(c, registerJobBody);
      const job = validateJob(body.job);
      // Service names, ingress hosts+paths and TCP ingress ports held by other jobs: 409 naming
      // the owner. A quick answer only: registerJob checks again atomically with its write.
      assertNoJobClaimConflicts(cp.state.jobs(), job);
      const res: RegisterJobResponse = await cp.registerJob(job);
      return c.json(res, res.result === 'created' ? 201 : 200);
    })
    .get('/jobs', (c) => {
      const { namespace } = parseQuery(jobListQuery, c.req.query());
      const entries = cp.state
        .jobs(namespace)
        .map((job) => jobListEntry(job, cp.state.allocsByJob(job.namespace, job.name)))
        .sort(byJobKey);
      return c.json(entries);
    })
    .get('/jobs/:ns/:name', (c) => {
      const { ns, name } = c.req.param();
      const job = cp.state.job(ns, name);
      if (!job) throw new NotFoundError('job', `${ns}/${name}`);
      const allocs = cp.state.allocsByJob(ns, name);
      const detail: JobDetail = {
        job,
        status: jobStatus(job, allocs),
        summary: allocSummary(job, allocs),
        allocations: newestAllocsFirst(allocs),
        evaluations: newestEvalsFirst(cp.state.evals({ namespace: ns, jobName: name })).slice(0, MAX_JOB_EVALS),
      };
      return c.json(detail);
    })
    .get('/jobs/:ns/:name/versions', async (c) => {
      const { ns, name } = c.req.param();
      const versions = await cp.listJobVersions(ns, name);
      if (versions.length === 0 && !cp.state.job(ns, name)) throw new NotFoundError('job', `${ns}/${name}`);
      return c.json([...versions].sort((a, b) => b.version - a.version));
    })
    .delete('/jobs/:ns/:name', async (c) => {
      const { ns, name } = c.req.param();
      const { purge } = parseQuery(stopJobQuery, c.req.query());
      const res: StopJobResponse = await cp.stopJob(ns, name, { purge });
      return c.json(res);
    });
}
