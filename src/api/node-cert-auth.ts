import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { TLSSocket } from 'node:tls';
import type { NodeId } from '../core/ids.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import type { JoinRequest, JoinResponse, RenewCertResponse, RotateJoinTokenResponse } from '../client/types.js';
import { peerIdentity } from '../pki/tls.js';
import type { PeerIdentity } from '../pki/certs.js';
import { unauthorized } from './errors.js';

/** Who called, as proven by a client certificate the TLS layer verified against the cluster CA. */
export type PeerOf = (c: Context) => PeerIdentity | undefined;

/**
 * The server's certificate authority as the API uses it (src/server implements it over
 * the store). Present only when the server runs with TLS.
 */
export interface ClusterPkiService {
  /** Checks the join token (constant time), picks a node id and signs the CSR for it. `remote` feeds the rate limit. */
  join(req: JoinRequest, remote: string): Promise<JoinResponse>;
  /** Signs a fresh CSR for a node that proved who it is with its current certificate. */
  renew(nodeId: NodeId, csr: string): Promise<RenewCertResponse>;
  /** Replaces the join token: the old one stops working, joined nodes are untouched. */
  rotateJoinToken(): Promise<RotateJoinTokenResponse>;
}

/**
 * The verified peer of a request served by @hono/node-server over HTTPS: the socket
 * must have passed verification against the CA (`authorized`), and its certificate names
 * the role. Plain HTTP or no (valid) certificate → undefined.
 */
export const socketPeer: PeerOf = (c) => {
  const incoming = (c.env as { incoming?: { socket?: unknown } } | undefined)?.incoming;
  const socket = incoming?.socket as Partial<TLSSocket> | undefined;
  return socket ? peerIdentity(socket as TLSSocket) : undefined;
};

/**
 * Guards the agent routes `/v1/nodes/:id/…` when the server runs with TLS: the client
 * certificate must be this cluster's, name the very node in the path, and not be revoked.
 */
export function requireNodeCert(cp: ControlPlane, peerOf: PeerOf) {
  return createMiddleware(async (c, next) => {
    const nodeId = c.req.param('id') as NodeId | undefined;
    if (!nodeId) throw unauthorized('this route needs a node id in its path');
    await checkNodeCert(c, cp, peerOf, nodeId);
    await next();
  });
}

/** Throws UNAUTHORIZED unless the request's client certificate is node `nodeId`'s and not revoked. */
export async function checkNodeCert(c: Context, cp: ControlPlane, peerOf: PeerOf, nodeId: NodeId | undefined): Promise<void> {
  const peer = peerOf(c);
  if (!peer) {
    throw unauthorized('agent calls need a client certificate issued by this cluster (mutual TLS): join with `karu agent --join https://SERVER:PORT --token TOKEN`');
  }
  if (peer.role !== 'node') throw unauthorized('the client certificate is not a node certificate');
  if (!nodeId) throw unauthorized(`a node with a certificate registers as itself: send nodeId '${peer.nodeId}'`);
  if (peer.nodeId !== nodeId) throw unauthorized(`the client certificate is node '${peer.nodeId}'s, not node '${nodeId}'s`);
  if (await cp.isNodeRevoked(nodeId)) throw unauthorized(`node '${nodeId}' was removed from the cluster (karu node rm): its certificate is revoked; join again with a token to come back as a new node`);
}
