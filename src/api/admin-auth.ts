import type { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { KaruError } from '../core/errors.js';
import type { PeerOf } from './node-cert-auth.js';

/**
 * The cluster-admin routes: with TLS they need the admin client certificate
 * (`<server data dir>/admin.pem`). Matched by Hono's own router, so the guard sees exactly
 * the requests the routes see. ACLs per team are a later issue; this closes the worst doors.
 */
export const ADMIN_ROUTES: readonly { method: 'ALL' | 'POST' | 'DELETE'; path: string }[] = [
  { method: 'ALL', path: '/v1/acl/*' },
  { method: 'DELETE', path: '/v1/nodes/:id' },
  { method: 'POST', path: '/v1/nodes/:id/drain' },
  { method: 'POST', path: '/v1/nodes/:id/eligibility' },
  { method: 'POST', path: '/v1/rebalance' },
];

/** The 403 of a cluster-admin route called without the admin certificate. */
export function adminOnly(presented: string): KaruError {
  return new KaruError(
    'FORBIDDEN',
    `this needs the cluster admin certificate (<server data dir>/admin.pem); run it on the server machine or pass --cert/--key (${presented})`,
    { retryable: false },
  );
}

/** Refuses anything but a verified client certificate with the admin role (a node's is not enough). */
export function requireAdminCert(peerOf: PeerOf) {
  return createMiddleware(async (c, next) => {
    const peer = peerOf(c);
    if (peer?.role !== 'admin') {
      throw adminOnly(!peer ? 'no valid client certificate was presented' : peer.role === 'node' ? 'a node certificate is not enough' : `the ${peer.role} certificate is not enough`);
    }
    await next();
  });
}

/** Installs the guard on every cluster-admin route of `app`; call before the routes are mounted. */
export function guardAdminRoutes(app: Hono, peerOf: PeerOf): void {
  const guard = requireAdminCert(peerOf);
  for (const r of ADMIN_ROUTES) app.on(r.method, r.path, guard);
}
