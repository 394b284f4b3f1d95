import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { NodeId } from '../core/ids.js';
import type { DriverHealth } from '../core/node.js';
import type { ControlPlane } from '../controllers/control-plane.js';
import type { Logger } from '../lib/logger.js';
import type { PeerIdentity } from '../pki/certs.js';
import { peerIdentity } from '../pki/tls.js';
import { failureAnswer, MAX_BODY_BYTES } from './errors.js';
import { NODE_SECRET_HEADER } from './node-auth.js';
import { assertUpdatesOfNode } from './routes/agent.js';
import { heartbeatBody, parseJsonText, updateAllocStatusBody } from './schemas.js';

/** A Node `http`/`https` request listener (what @hono/node-server hands to `createServer`). */
export type NodeRequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface HeartbeatFastPathDeps {
  controlPlane: ControlPlane;
  logger: Logger;
  /** The server runs with TLS: the node is proven by its client certificate, not by the node secret. */
  tls: boolean;
  /** Who the verified client certificate names. Default: the TLS socket's peer (tests pass a fake). */
  peerOf?: (req: IncomingMessage) => PeerIdentity | undefined;
}

/** Heartbeats are tiny: anything larger (or chunked) is odd and goes the general way, with its body limit. */
const MAX_FAST_BODY_BYTES = 16 * 1024;

const HEARTBEAT_PATH = /^\/v1\/nodes\/([^/?#]+)\/heartbeat$/;
const STATUS_PATH = /^\/v1\/nodes\/([^/?#]+)\/allocations\/status$/;

/** Distinct heartbeat bodies kept parsed: agents send the same one beat after beat. */
const MAX_PARSED_BODIES = 1_024;

/**
 * Heartbeats are most of the API's traffic (5,000 nodes beat 5,000 times a second) and the
 * cheapest thing it does (a deadline in memory), so through Hono each one cost ~10× its
 * work: web Request/Response objects, a body read through web streams, routing over every
 * route, the body-limit middleware, a zod parse (issue 5: ~350 µs of server CPU a beat).
 * This listener answers `POST /v1/nodes/:id/heartbeat` straight off the socket and hands
 * every other request to `fallback` (the Hono app) untouched. Agents' status reports
 * (`PUT /v1/nodes/:id/allocations/status`) take the same way: while plans land they are
 * the next most frequent call, and Hono cost several times their parse.
 *
 * Same semantics as the routes in routes/agent.ts: the node secret (or, with TLS, a
 * not-revoked client certificate naming the node) is checked before the body is read, and
 * a request it does not clearly accept — wrong credentials, no content-length, a large
 * body — goes to the general path, which refuses it with its usual error. Errors after
 * the body is read (malformed body, unknown node) speak the API's error shape.
 */
export function withHeartbeatFastPath(fallback: NodeRequestListener, deps: HeartbeatFastPathDeps): NodeRequestListener {
  const { controlPlane: cp, logger } = deps;
  const peerOf = deps.peerOf ?? socketPeerOf;
  const parsed = new Map<string, Record<string, DriverHealth> | undefined>();
  const replies = new Map<number, string>();

  const authenticated = async (req: IncomingMessage, nodeId: NodeId): Promise<boolean> => {
    if (deps.tls) {
      const peer = peerOf(req);
      return peer?.role === 'node' && peer.nodeId === nodeId && !(await cp.isNodeRevoked(nodeId));
    }
    const secret = req.headers[NODE_SECRET_HEADER];
    return typeof secret === 'string' && secret !== '' && cp.authenticateNode(nodeId, secret);
  };

  const driversOf = (text: string): Record<string, DriverHealth> | undefined => {
    if (parsed.has(text)) return parsed.get(text);
    const { drivers } = parseJsonText(text, heartbeatBody, { emptyOk: true });
    if (parsed.size >= MAX_PARSED_BODIES) parsed.clear();
    parsed.set(text, drivers);
    return drivers;
  };

  const reply = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    if (res.headersSent) return void res.destroy();
    const { status, body } = failureAnswer(err, logger, req.method, req.url);
    reply(res, status, JSON.stringify(body));
  };

  const beat = async (req: IncomingMessage, res: ServerResponse, nodeId: NodeId, length: number): Promise<void> => {
    // Credentials first, body untouched: a refusal is the general path's to word.
    if (!(await authenticated(req, nodeId))) return fallback(req, res);
    const text = length === 0 ? '' : await readBody(req, length);
    if (text === undefined) return; // the agent hung up mid-body: nobody to answer
    const { heartbeatTtlMs } = await cp.heartbeat(nodeId, driversOf(text));
    let body = replies.get(heartbeatTtlMs);
    if (body === undefined) replies.set(heartbeatTtlMs, (body = JSON.stringify({ heartbeatTtlMs })));
    reply(res, 200, body);
  };

  const report = async (req: IncomingMessage, res: ServerResponse, nodeId: NodeId, length: number): Promise<void> => {
    if (!(await authenticated(req, nodeId))) return fallback(req, res);
    const text = await readBody(req, length);
    if (text === undefined) return;
    const { updates } = parseJsonText(text, updateAllocStatusBody);
    assertUpdatesOfNode(nodeId, updates);
    await cp.updateAllocStatus(nodeId, updates);
    res.writeHead(204);
    res.end();
  };

  // Reports are bounded by the API's own body limit; a larger one gets its refusal from Hono.
  const beats = { path: HEARTBEAT_PATH, maxBytes: MAX_FAST_BODY_BYTES, handle: beat };
  const reports = { path: STATUS_PATH, maxBytes: MAX_BODY_BYTES, handle: report };

  return (req, res) => {
    const url = req.url;
    if (url === undefined || !url.startsWith('/v1/nodes/')) return fallback(req, res);
    const route = req.method === 'POST' && url.endsWith('/heartbeat') ? beats : req.method === 'PUT' && url.endsWith('/allocations/status') ? reports : undefined;
    if (!route) return fallback(req, res);
    const m = route.path.exec(url);
    const length = Number(req.headers['content-length']);
    if (!m || !(length >= 0 && length <= route.maxBytes)) return fallback(req, res);
    let nodeId: NodeId;
    try {
      nodeId = decodeURIComponent(m[1]!) as NodeId;
    } catch {
      return fallback(req, res);
    }
    route.handle(req, res, nodeId, length).catch((err: unknown) => fail(req, res, err));
  };
}

/** The verified client certificate of an HTTPS request, remembered per connection (it cannot change on it). */
const peers = new WeakMap<object, PeerIdentity | undefined>();
function socketPeerOf(req: IncomingMessage): PeerIdentity | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (peers.has(socket)) return peers.get(socket);
  const peer = peerIdentity(socket);
  peers.set(socket, peer);
  return peer;
}

/** The request's body as text (`length`: its content-length, which Node's parser enforces); undefined when the client went away. */
function readBody(req: IncomingMessage, length: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, length).toString('utf8')));
    // 'close' before 'end': the connection dropped mid-body (a request without an 'error'
    // listener is destroyed quietly, and 'close' follows every error).
    req.once('close', () => resolve(undefined));
  });
}
