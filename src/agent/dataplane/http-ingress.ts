import { once } from 'node:events';
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo } from 'node:net';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { matchRoute, normalizeHost, type IngressRoute } from '../../core/ingress.js';
import { endpointKey, serviceKey, type BalanceStrategy, type ServiceEntry, type ServiceTable } from './service-table.js';
import { plainAddress } from './tcp-proxy.js';

/**
 * The HTTP ingress: a reverse proxy on a node address that routes by Host and path
 * prefix to services of the ServiceTable, balanced across their healthy endpoints.
 * Unlike a routing mesh that NATs connections (Swarm's loses the client address,
 * moby#25526), it terminates HTTP, so the backend is told the client's real IP in
 * X-Forwarded-For and Forwarded. Bodies stream both ways; connections to backends are
 * kept alive and reused.
 */

export interface HttpIngressOptions {
  table: ServiceTable;
  routes?: IngressRoute[];
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Serve HTTPS with the user's certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  strategy?: BalanceStrategy;
  /** Idle keep-alive connections kept per backend. Default 64. */
  maxFreeSockets?: number;
  logger?: Logger;
}

export interface HttpIngress {
  readonly host: string;
  readonly port: number;
  /** Replaces the route table; takes effect for the next request. */
  setRoutes(routes: readonly IngressRoute[]): void;
  /** Stops accepting, lets requests in flight finish for up to `graceMs` (default 10 s). */
  close(graceMs?: number): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Headers named in `Connection` are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  const v = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(v.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
}

/** A Forwarded parameter value: a token as is, anything else quoted (RFC 7239 §4). */
function forwardedValue(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`;
}

/** The node part of `for=`: IPv6 in brackets and quotes (RFC 7239 §6). */
function forwardedNode(ip: string): string {
  return isIP(ip) === 6 ? `"[${ip}]"` : forwardedValue(ip || 'unknown');
}

const joinHeader = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);

/**
 * The headers sent to the backend: the client's, less hop-by-hop ones, with the client's
 * address appended to X-Forwarded-For and Forwarded (earlier proxies' entries are kept)
 * and X-Forwarded-Proto / X-Forwarded-Host set by this edge. Host is passed on as is.
 */
export function forwardHeaders(incoming: IncomingHttpHeaders, client: { ip: string; proto: 'http' | 'https' }): OutgoingHttpHeaders {
  const drop = connectionTokens(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(incoming)) {
    if (v === undefined || HOP_BY_HOP.has(k) || drop.has(k)) continue;
    out[k] = v;
  }
  const host = incoming.host ?? '';
  const xff = joinHeader(incoming['x-forwarded-for']);
  out['x-forwarded-for'] = xff ? `${xff}, ${client.ip}` : client.ip;
  out['x-forwarded-proto'] = client.proto;
  out['x-forwarded-host'] = host;
  const element = `for=${forwardedNode(client.ip)};proto=${client.proto}${host ? `;host=${forwardedValue(host)}` : ''}`;
  const fwd = joinHeader(incoming.forwarded);
  out.forwarded = fwd ? `${fwd}, ${element}` : element;
  return out;
}

/** The backend's response headers as raw pairs (duplicates and case kept), less hop-by-hop ones. */
function responseHeaders(res: IncomingMessage): string[] {
  const drop = connectionTokens(res.headers.connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    const k = res.rawHeaders[i]!;
    const lk = k.toLowerCase();
    if (HOP_BY_HOP.has(lk) || drop.has(lk)) continue;
    out.push(k, res.rawHeaders[i + 1]!);
  }
  return out;
}

/** Connect-phase errors: the endpoint is not there, so it leaves rotation for a while. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL']);

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function plain(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-karu-ingress': 'error' });
  res.end(body);
}

/** Starts the ingress; resolves once it listens. */
export async function startHttpIngress(opts: HttpIngressOptions): Promise<HttpIngress> {
  const log = opts.logger ?? silentLogger();
  const proto: 'http' | 'https' = opts.tls ? 'https' : 'http';
  let routes: readonly IngressRoute[] = opts.routes ?? [];
  // One pool of kept-alive connections per backend; LIFO keeps the warm ones busy.
  const agent = new Agent({ keepAlive: true, maxFreeSockets: opts.maxFreeSockets ?? 64, scheduling: 'lifo' });

  const proxy = (req: IncomingMessage, res: ServerResponse, entry: ServiceEntry): void => {
    const clientIp = plainAddress(req.socket.remoteAddress);
    const headers = forwardHeaders(req.headers, { ip: clientIp, proto });
    const body = hasBody(req);
    const tried = new Set<string>();
    const name = serviceKey(entry.namespace, entry.name);

    const attempt = (): void => {
      const current = opts.table.get(entry.namespace, entry.name) ?? entry;
      const ep = opts.table.pick(current, { exclude: tried, ...(opts.strategy ? { strategy: opts.strategy } : {}) });
      if (!ep) return plain(res, 502, `karu ingress: no healthy endpoint for service '${name}'\n`);
      tried.add(endpointKey(ep));
      const release = opts.table.acquire(current, ep);
      const upstream = httpRequest({ host: ep.address, port: ep.port, method: req.method, path: req.url, headers, agent });
      let answered = false;
      upstream.on('response', (up) => {
        answered = true;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, responseHeaders(up));
        up.pipe(res);
        up.on('error', () => res.destroy());
        up.on('close', release);
      });
      upstream.on('error', (e: NodeJS.ErrnoException) => {
        release();
        if (answered || res.headersSent) return void res.destroy();
        const connectFailed = CONNECT_ERRORS.has(e.code ?? '');
        if (connectFailed) opts.table.markFailed(current, ep);
        log.info({ err: e, service: name, endpoint: endpointKey(ep) }, 'ingress: backend failed');
        // Without a body nothing was consumed, so another endpoint can take the request.
        if (!body && (connectFailed || e.code === 'ECONNRESET') && !res.destroyed) return attempt();
        plain(res, 502, `karu ingress: service '${name}' failed: ${e.code ?? e.message}\n`);
      });
      // The client went away before the answer was complete: stop the backend request.
      res.on('close', () => {
        if (!res.writableFinished) upstream.destroy();
      });
      if (body) req.pipe(upstream);
      else upstream.end();
    };
    attempt();
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host;
    const path = req.url ?? '/';
    const route = matchRoute(routes, host, path);
    if (!route) return plain(res, 404, `karu ingress: no route for host '${normalizeHost(host) || '-'}' and path '${path.split('?')[0]}'\n`);
    const entry = opts.table.get(route.namespace, route.service);
    if (!entry) return plain(res, 502, `karu ingress: service '${serviceKey(route.namespace, route.service)}' is not in the catalog\n`);
    if (route.port && entry.portLabel && route.port !== entry.portLabel) {
      return plain(res, 502, `karu ingress: service '${serviceKey(route.namespace, route.service)}' has no port '${route.port}'\n`);
    }
    proxy(req, res, entry);
  };

  const server: Server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : createServer(handler);
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
    log.debug({ err }, 'ingress: bad request from client');
  });
  server.listen(opts.port, opts.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
  server.on('error', (e) => log.warn({ err: e }, 'ingress: server error'));
  const port = (server.address() as AddressInfo).port;

  return {
    host: opts.host,
    port,
    setRoutes(next) {
      routes = [...next];
    },
    async close(graceMs = 10_000) {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await stopped;
      agent.destroy();
    },
  };
}
