import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { normalizeHost, type IngressRoute } from '../../core/ingress.js';
import { endpointKey, serviceKey, type BalanceStrategy, type ServiceEndpoint, type ServiceEntry, type ServiceTable } from './service-table.js';
import { compileRoutes } from './route-table.js';
import { plainAddress } from './tcp-proxy.js';

/**
 * The HTTP ingress: a reverse proxy on a node address that routes by Host and path
 * prefix to services of the ServiceTable, balanced across their healthy endpoints.
 * Unlike a routing mesh that NATs connections (Swarm's loses the client address,
 * moby#25526), it terminates HTTP, so the backend is told the client's real IP in
 * X-Forwarded-For and Forwarded. Bodies stream both ways; connections to backends are
 * kept alive and reused.
 *
 * It sits on every request's path, so the hot path is kept lean (see bench/README.md,
 * "ingress"): the backend side is undici's dispatcher (its HTTP client parses with llhttp
 * in WebAssembly and allocates far less per request than `http.request`), headers are
 * copied from the raw header list without building intermediate objects, routes are
 * compiled once per change (route-table.ts), and nothing per request is logged unless it fails.
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
  /**
   * Kept for compatibility: the backend pool (undici) keeps every idle connection until
   * `backendKeepAliveMs` (or the backend's own Keep-Alive hint) passes. Ignored.
   */
  maxFreeSockets?: number;
  /** How long an idle connection to a backend is kept for reuse. Default 4000 ms (below Node's 5 s server default, so we close first). */
  backendKeepAliveMs?: number;
  /** How long an idle client connection is kept open. Default 30 000 ms. */
  keepAliveTimeoutMs?: number;
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

/** Request headers this edge sets itself (from the client's, appended to) or never passes on. */
const SET_BY_EDGE = new Set(['x-forwarded-for', 'forwarded', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * `forwardHeaders` on the raw header list (`req.rawHeaders`), for the hot path: names keep
 * their case, nothing is built but the output list. Also drops `Expect` — Node's server
 * has already answered `100 Continue` to the client, and the backend client (undici)
 * refuses the header — and a repeated `Host`.
 */
export function forwardHeaderList(raw: readonly string[], client: { ip: string; proto: 'http' | 'https' }): string[] {
  const out: string[] = [];
  let host: string | undefined;
  let xff = '';
  let fwd = '';
  let connection = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!;
    const v = raw[i + 1]!;
    const lk = k.toLowerCase();
    if (lk === 'host') {
      if (host !== undefined) continue;
      host = v;
    } else if (lk === 'x-forwarded-for') {
      xff = xff ? `${xff}, ${v}` : v;
      continue;
    } else if (lk === 'forwarded') {
      fwd = fwd ? `${fwd}, ${v}` : v;
      continue;
    } else if (lk === 'connection') {
      connection = connection ? `${connection},${v}` : v;
      continue;
    } else if (HOP_BY_HOP.has(lk) || SET_BY_EDGE.has(lk) || lk === 'expect') {
      continue;
    }
    out.push(k, v);
  }
  const list = connection ? withoutNamed(out, connection) : out;
  list.push('x-forwarded-for', xff ? `${xff}, ${client.ip}` : client.ip, 'x-forwarded-proto', client.proto, 'x-forwarded-host', host ?? '');
  const element = forwardedElement(client.ip, client.proto, host ?? '');
  list.push('forwarded', fwd ? `${fwd}, ${element}` : element);
  return list;
}

/**
 * Our `Forwarded` element, remembered for the last few clients and hosts: a busy ingress
 * sees the same few, and the quoting rules are worth not re-running per request.
 */
const elements = new Map<string, string>();
function forwardedElement(ip: string, proto: 'http' | 'https', host: string): string {
  const key = `${ip} ${proto} ${host}`;
  let element = elements.get(key);
  if (element === undefined) {
    element = `for=${forwardedNode(ip)};proto=${proto}${host ? `;host=${forwardedValue(host)}` : ''}`;
    if (elements.size >= 1024) elements.clear();
    elements.set(key, element);
  }
  return element;
}

/** `pairs` less the headers named in a `Connection` value (`close` and `keep-alive` name none). */
function withoutNamed(pairs: string[], connection: string): string[] {
  if (connection.length <= 10 && /^(keep-alive|close)$/i.test(connection)) return pairs; // the usual value: nothing named
  const drop = connectionTokens(connection);
  drop.delete('close');
  drop.delete('keep-alive');
  if (drop.size === 0) return pairs;
  const out: string[] = [];
  for (let i = 0; i + 1 < pairs.length; i += 2) if (!drop.has(pairs[i]!.toLowerCase())) out.push(pairs[i]!, pairs[i + 1]!);
  return out;
}

/** The backend's response headers as raw pairs (duplicates and case kept), less hop-by-hop ones. */
function responseHeaderList(raw: readonly Buffer[]): string[] {
  const out: string[] = [];
  let connection = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toString('latin1');
    const lk = k.toLowerCase();
    if (lk === 'connection') {
      const v = raw[i + 1]!.toString('latin1');
      connection = connection ? `${connection},${v}` : v;
      continue;
    }
    if (HOP_BY_HOP.has(lk)) continue;
    out.push(k, raw[i + 1]!.toString('latin1'));
  }
  return connection ? withoutNamed(out, connection) : out;
}

/**
 * Connect-phase errors: the endpoint is not there, so it leaves rotation for a while
 * (undici reports a connect timeout as UND_ERR_CONNECT_TIMEOUT).
 */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** The connection broke before an answer (a kept-alive socket the backend had just closed): safe to retry a body-less request. */
const RESET_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function hasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  const len = h['content-length'];
  return h['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

function plain(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-karu-ingress': 'error' });
  res.end(body);
}

/** What every exchange of one ingress shares. */
interface IngressContext {
  readonly table: ServiceTable;
  readonly dispatcher: Dispatcher;
  readonly proto: 'http' | 'https';
  readonly pick: { strategy?: BalanceStrategy };
  readonly log: Logger;
}

const noop = (): void => {};

/** The client's address, worked out once per connection rather than per request. */
const clientIps = new WeakMap<Socket, string>();
function clientIp(socket: Socket): string {
  let ip = clientIps.get(socket);
  if (ip === undefined) {
    ip = plainAddress(socket.remoteAddress);
    clientIps.set(socket, ip);
  }
  return ip;
}

/**
 * One client request and its answer, as undici's dispatch handler: the backend's status
 * and headers are written as they arrive, its body streams to the client with
 * back-pressure (a full client socket pauses the backend's), and a body-less request
 * whose endpoint refuses the connection is tried on the next endpoint.
 */
class Exchange implements Dispatcher.DispatchHandlers {
  private readonly headers: string[];
  private readonly body: boolean;
  private readonly name: string;
  private tried: Set<string> | undefined;
  private current: ServiceEntry;
  private ep: ServiceEndpoint | undefined;
  private release: () => void = noop;
  private abort: ((err?: Error) => void) | undefined;
  private resume: () => void = noop;
  private answered = false;
  /** The client went away: whatever is out to the backend is aborted, now or as soon as it connects. */
  private gone = false;

  constructor(
    private readonly ctx: IngressContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    entry: ServiceEntry,
  ) {
    this.current = entry;
    this.name = serviceKey(entry.namespace, entry.name);
    this.headers = forwardHeaderList(req.rawHeaders, { ip: clientIp(req.socket), proto: ctx.proto });
    this.body = hasBody(req);
    // The client went away before the answer was complete: stop the backend request.
    res.on('close', () => {
      if (res.writableFinished) return;
      this.gone = true;
      this.abort?.(new Error('client closed the connection'));
    });
  }

  /** Sends the request to the next endpoint, or answers 502 when none is left. */
  attempt(): void {
    const { table } = this.ctx;
    const current = table.get(this.current.namespace, this.current.name) ?? this.current;
    this.current = current;
    const ep = table.pick(current, this.tried ? { ...this.ctx.pick, exclude: this.tried } : this.ctx.pick);
    if (!ep) return plain(this.res, 502, `karu ingress: no healthy endpoint for service '${this.name}'\n`);
    this.ep = ep;
    this.release = table.acquire(current, ep);
    this.abort = undefined;
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    this.ctx.dispatcher.dispatch(
      {
        origin: `http://${host}:${ep.port}`,
        path: this.req.url ?? '/',
        method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.body ? this.req : null,
        // No timeouts of the proxy's own: a slow backend or a long stream is the route's business.
        headersTimeout: 0,
        bodyTimeout: 0,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.gone) abort(new Error('client closed the connection'));
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: informational, the real answer follows
    this.answered = true;
    this.resume = resume;
    if (this.res.destroyed) return false; // `close` aborts the request
    this.res.writeHead(statusCode, statusText, responseHeaderList(headers));
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.destroyed) return false;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume);
    return false;
  }

  onComplete(): void {
    this.release();
    this.res.end();
  }

  onError(err: Error): void {
    this.release();
    const { res } = this;
    if (this.answered || res.headersSent || res.destroyed) return void res.destroy();
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const ep = this.ep;
    const connectFailed = CONNECT_ERRORS.has(code);
    if (ep) {
      if (connectFailed) this.ctx.table.markFailed(this.current, ep);
      (this.tried ??= new Set()).add(endpointKey(ep));
    }
    this.ctx.log.info({ err, service: this.name, endpoint: ep ? endpointKey(ep) : '' }, 'ingress: backend failed');
    // Without a body nothing was consumed, so another endpoint can take the request.
    if (!this.body && (connectFailed || RESET_ERRORS.has(code))) return this.attempt();
    plain(res, 502, `karu ingress: service '${this.name}' failed: ${code || err.message}\n`);
  }
}

/** Starts the ingress; resolves once it listens. */
export async function startHttpIngress(opts: HttpIngressOptions): Promise<HttpIngress> {
  const log = opts.logger ?? silentLogger();
  const proto: 'http' | 'https' = opts.tls ? 'https' : 'http';
  let matchRoute = compileRoutes(opts.routes ?? []);
  // One pool of kept-alive connections per backend, one request at a time on each (no
  // pipelining: a slow answer must not hold up the next request behind it).
  const dispatcher = new Agent({ keepAliveTimeout: opts.backendKeepAliveMs ?? 4_000, pipelining: 1 });
  const ctx: IngressContext = { table: opts.table, dispatcher, proto, pick: opts.strategy ? { strategy: opts.strategy } : {}, log };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const host = req.headers.host;
    const path = req.url ?? '/';
    const route = matchRoute(host, path);
    if (!route) return plain(res, 404, `karu ingress: no route for host '${normalizeHost(host) || '-'}' and path '${path.split('?')[0]}'\n`);
    const entry = opts.table.get(route.namespace, route.service);
    if (!entry) return plain(res, 502, `karu ingress: service '${serviceKey(route.namespace, route.service)}' is not in the catalog\n`);
    if (route.port && entry.portLabel && route.port !== entry.portLabel) {
      return plain(res, 502, `karu ingress: service '${serviceKey(route.namespace, route.service)}' has no port '${route.port}'\n`);
    }
    new Exchange(ctx, req, res, entry).attempt();
  };

  const serverOpts = { keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000, noDelay: true };
  const server: Server = opts.tls ? createHttpsServer({ ...serverOpts, cert: opts.tls.cert, key: opts.tls.key }, handler) : createServer(serverOpts, handler);
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
      matchRoute = compileRoutes(next);
    },
    async close(graceMs = 10_000) {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      server.closeAllConnections();
      await stopped;
      await dispatcher.destroy();
    },
  };
}
