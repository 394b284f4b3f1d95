import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Job } from '../core/job.js';
import type { Logger } from '../lib/logger.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import { validateJobObject } from '../spec/parse.js';
import { guardAdminRoutes } from './admin-auth.js';
import type { ApiDeps } from './deps.js';
import { bodyTooLarge, createErrorHandler, MAX_BODY_BYTES, notFoundHandler } from './errors.js';
import { agentRoutes } from './routes/agent.js';
import { allocationRoutes } from './routes/allocations.js';
import { catalogRoutes } from './routes/catalog.js';
import { evaluationRoutes } from './routes/evaluations.js';
import { jobRoutes } from './routes/jobs.js';
import { nodeRoutes } from './routes/nodes.js';
import { nodeAdminRoutes } from './routes/node-admin.js';
import { pkiRoutes } from './routes/pki.js';
import { planRoutes } from './routes/plan.js';
import { socketPeer, type ClusterPkiService, type PeerOf } from './node-cert-auth.js';

export interface ApiOptions {
  controlPlane: ControlPlane;
  logger: Logger;
  /** Used to reach agents (log streaming). Default: the global fetch. Tests pass a fake agent. */
  fetchAgent?: typeof fetch;
  /** Checks a submitted job. Default: the spec's `validateJobObject`. */
  validateJob?: (obj: unknown) => Job;
  /** With TLS: the cluster CA. Agent routes then authenticate by client certificate instead of the node secret. */
  pki?: ClusterPkiService;
  /** Who presented which certificate. Default: the verified TLS peer of @hono/node-server's socket. */
  peerOf?: PeerOf;
}

/**
 * API v1 as a Hono app, with no socket of its own: the server mounts it on
 * @hono/node-server, tests call `app.request()`. Routes translate HTTP to ControlPlane
 * calls and read-model lookups; every error leaves through the one handler in errors.ts.
 */
export function createApi(opts: ApiOptions) {
  const deps: ApiDeps = {
    controlPlane: opts.controlPlane,
    logger: opts.logger,
    fetchAgent: opts.fetchAgent ?? ((input, init) => globalThis.fetch(input, init)),
    validateJob: opts.validateJob ?? validateJobObject,
    ...(opts.pki ? { pki: opts.pki } : {}),
    peerOf: opts.peerOf ?? socketPeer,
  };
  const app = new Hono();
  app.onError(createErrorHandler(opts.logger));
  app.notFound(notFoundHandler);
  app.use('/v1/*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: bodyTooLarge }));
  // With TLS the cluster-admin routes need the admin certificate; plain HTTP (dev, loopback) stays open.
  if (opts.pki) guardAdminRoutes(app, deps.peerOf);
  return app
    .get('/v1/health', (c) => c.json({ ok: true as const, revision: opts.controlPlane.state.revision }))
    .route('/v1', planRoutes(deps))
    .route('/v1', jobRoutes(deps))
    .route('/v1', allocationRoutes(deps))
    .route('/v1', agentRoutes(deps))
    .route('/v1', pkiRoutes(deps))
    .route('/v1', nodeRoutes(deps))
    .route('/v1', nodeAdminRoutes(deps))
    .route('/v1', evaluationRoutes(deps))
    .route('/v1', catalogRoutes(deps));
}

/** The app's type, route by route (for `hono/client`'s `hc<ApiApp>` should anyone want it). */
export type ApiApp = ReturnType<typeof createApi>;
