import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { ErrorCode } from '../core/errors.js';
import type { DriverHealth } from '../core/node.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Driver, TaskHandle } from '../driver/driver.js';
import { peerIdentity } from '../pki/tls.js';
import type { NodeTls } from './node-tls.js';

/** What the HTTP API needs from the agent (the Agent class provides it). */
export interface AgentHttpSource {
  /** The token the server must present; undefined before registration (every call is then refused). */
  readonly serverToken: string | undefined;
  readonly nodeId: string | undefined;
  readonly driver: Driver;
  readonly driverHealth: DriverHealth;
  allocRunner(id: string): { readonly taskNames: string[]; taskHandle(task: string): TaskHandle | undefined } | undefined;
}

export interface AgentHttpServerOptions {
  source: AgentHttpSource;
  /** 0 picks a free port. */
  port: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  logger?: Logger;
  /**
   * Serve HTTPS with the node certificate and accept only the server's client certificate
   * (mutual TLS) instead of the server token.
   */
  tls?: NodeTls;
}

export interface AgentHttpServer {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** A URL for the bound address (127.0.0.1 when bound to every interface). */
  readonly url: string;
  /** With TLS: serve new connections with a renewed certificate. */
  setCredentials(tls: NodeTls): void;
  close(): Promise<void>;
}

const STATUS: Record<ErrorCode, number> = { NOT_FOUND: 404, CONFLICT: 409, INVALID: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, UNAVAILABLE: 503, INTERNAL: 500 };

/**
 * The agent's own small API, called by the server (never by users directly):
 * - `GET /v1/agent/health` → `{nodeId, driver: {healthy, detail}}`
 * - `GET /v1/agent/allocations/:allocId/logs?task=&follow=&tail=` → NDJSON `{stream, line}`
 * Every request carries `x-karu-server-token` (the token the server issued at registration).
 */
export async function startAgentHttpServer(opts: AgentHttpServerOptions): Promise<AgentHttpServer> {
  const log = opts.logger ?? silentLogger();
  const tlsOptions = (t: NodeTls) => ({ key: t.keyPem, cert: t.certPem, ca: [t.caPem], requestCert: true, rejectUnauthorized: true });
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(opts.source, req, res, opts.tls !== undefined).catch((e: unknown) => {
      log.warn({ err: e instanceof Error ? e.message : String(e), url: req.url }, 'agent API request failed');
      if (!res.headersSent) sendError(res, 'INTERNAL', 'internal error');
      else res.destroy();
    });
  };
  const server: Server | HttpsServer = opts.tls ? createHttpsServer(tlsOptions(opts.tls), listener) : createServer(listener);
  const host = opts.host ?? '127.0.0.1';
  server.listen(opts.port, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `${opts.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    setCredentials(tls) {
      if ('setSecureContext' in server) server.setSecureContext(tlsOptions(tls));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Followed log streams would otherwise keep close() waiting forever.
        server.closeAllConnections();
      }),
  };
}

async function handle(source: AgentHttpSource, req: IncomingMessage, res: ServerResponse, tls: boolean): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agent');
  if (req.method !== 'GET') return sendError(res, 'INVALID', `method ${req.method} not allowed`, 405);
  if (tls) {
    // The TLS layer already refused certificates of other CAs; only the server may call.
    if (peerIdentity(req.socket as TLSSocket)?.role !== 'server') return sendError(res, 'UNAUTHORIZED', "only the Karu server's certificate may call the agent API");
  } else if (!authorized(source.serverToken, req.headers['x-karu-server-token'])) {
    return sendError(res, 'UNAUTHORIZED', 'missing or wrong x-karu-server-token');
  }
  if (url.pathname === '/v1/agent/health') {
    return sendJson(res, 200, { nodeId: source.nodeId, driver: source.driverHealth });
  }
  const m = /^\/v1\/agent\/allocations\/([^/]+)\/logs$/.exec(url.pathname);
  if (m) return streamLogs(source, decodeURIComponent(m[1]!), url.searchParams, req, res);
  return sendError(res, 'NOT_FOUND', `no route ${url.pathname}`);
}

async function streamLogs(source: AgentHttpSource, allocId: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const runner = source.allocRunner(allocId);
  if (!runner) return sendError(res, 'NOT_FOUND', `allocation '${allocId}' is not on this node`);
  const tasks = runner.taskNames;
  const task = q.get('task') || (tasks.length === 1 ? tasks[0]! : undefined);
  if (task === undefined) return sendError(res, 'INVALID', `allocation has several tasks (${tasks.join(', ')}): choose one with ?task=`, undefined, { tasks });
  if (!tasks.includes(task)) return sendError(res, 'NOT_FOUND', `allocation has no task '${task}' (tasks: ${tasks.join(', ')})`, undefined, { tasks });
  let tail: number | undefined;
  if (q.get('tail')) {
    tail = Number(q.get('tail'));
    if (!Number.isInteger(tail) || tail < 0) return sendError(res, 'INVALID', `tail must be a non-negative integer, got '${q.get('tail')}'`);
  }
  const handle = runner.taskHandle(task);
  if (!handle) return sendError(res, 'NOT_FOUND', `task '${task}' has not started a container yet`);
  const follow = q.get('follow') === 'true' || q.get('follow') === '1';

  const abort = new AbortController();
  // The reader went away: stop following the container's log.
  res.on('close', () => abort.abort());
  req.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  res.flushHeaders();
  try {
    for await (const l of source.driver.logs(handle, { follow, ...(tail !== undefined ? { tail } : {}), signal: abort.signal })) {
      if (abort.signal.aborted) break;
      if (!res.write(JSON.stringify({ stream: l.stream, line: l.line }) + '\n')) await once(res, 'drain', { signal: abort.signal }).catch(() => undefined);
    }
  } catch (e) {
    if (!abort.signal.aborted) throw e;
  }
  if (!res.destroyed) res.end();
}

function authorized(expected: string | undefined, given: string | string[] | undefined): boolean {
  if (!expected || typeof given !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, code: ErrorCode, message: string, status?: number, details: Record<string, unknown> = {}): void {
  sendJson(res, status ?? STATUS[code], { code, message, details });
}
