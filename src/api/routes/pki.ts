import { Hono } from 'hono';
import { z } from 'zod';
import { KaruError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { RemoveNodeResponse } from '../../client/types.js';
import type { ApiDeps } from '../deps.js';
import { requireNodeCert } from '../node-cert-auth.js';
import { parseJsonBody } from '../schemas.js';
import { resolveNode } from './nodes.js';

const pem = (kind: string) => z.string().min(1).max(16_384).refine((s) => s.includes(`-----BEGIN ${kind}-----`), { error: `must be a PEM ${kind}` });
const joinBody = z.object({
  tokenId: z.string().min(1).max(128),
  secret: z.string().min(1).max(256),
  csr: pem('CERTIFICATE REQUEST'),
  name: z.string().min(1).max(253),
});
const renewBody = z.object({ csr: pem('CERTIFICATE REQUEST') });

/**
 * Cluster security: joining with a token, certificate renewal, join-token rotation and
 * node removal (revocation). Without TLS (`karu dev`) only node removal is served.
 */
export function pkiRoutes(deps: ApiDeps) {
  const { controlPlane: cp, pki, peerOf } = deps;
  const requirePki = () => {
    if (!pki) throw new KaruError('INVALID', 'this server runs without TLS (karu dev): there are no join tokens or certificates; start it with `karu server`');
    return pki;
  };
  const certAuth = requireNodeCert(cp, peerOf);
  return new Hono()
    .post('/join', async (c) => {
      const service = requirePki();
      const body = await parseJsonBody(c, joinBody);
      const remote = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? 'unknown';
      return c.json(await service.join(body, remote), 201);
    })
    .post('/nodes/:id/renew', certAuth, async (c) => {
      const service = requirePki();
      const { csr } = await parseJsonBody(c, renewBody);
      return c.json(await service.renew(c.req.param('id') as NodeId, csr));
    })
    .post('/acl/join-token/rotate', async (c) => c.json(await requirePki().rotateJoinToken()))
    .delete('/nodes/:id', async (c) => {
      const node = resolveNode(cp, c.req.param('id'));
      const { evalIds } = await cp.removeNode(node.id);
      const res: RemoveNodeResponse = { nodeId: node.id, evalIds };
      return c.json(res);
    });
}
