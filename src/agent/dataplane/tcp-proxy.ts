import { once } from 'node:events';
import { connect, createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { endpointKey, serviceKey, type BalanceStrategy, type ServiceEndpoint, type ServiceTable } from './service-table.js';

/**
 * The node-local TCP proxy: a listener on a service's VIP:port (or an ingress TCP port)
 * that hands each new connection to a healthy endpoint of the service, balanced across
 * them. A refused or timed-out connect marks the endpoint failed in the table and the next
 * one is tried, so one dead instance costs a client nothing but a little latency. The
 * endpoint is chosen per connection from the table as it is then: an endpoint removed
 * from the table gets no new connection, while connections already open to it are left
 * to finish. Optionally the backend is told the client's real address with a PROXY
 * protocol v1 header.
 */

export interface ServiceProxyOptions {
  table: ServiceTable;
  service: { namespace: string; name: string };
  /** Address to listen on: the service's VIP, or a node address for an ingress TCP route. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Send a PROXY protocol v1 line to the backend first. Default false. */
  proxyProtocol?: boolean;
  /** A connect slower than this counts as failed. Default 2000 ms. */
  connectTimeoutMs?: number;
  strategy?: BalanceStrategy;
  logger?: Logger;
}

export interface ServiceProxyListener {
  readonly host: string;
  readonly port: number;
  /** Client connections open right now. */
  readonly connections: number;
  /**
   * Stops accepting, lets open connections finish for up to `graceMs` (default 10 s),
   * then cuts those still open.
   */
  close(graceMs?: number): Promise<void>;
}

/** An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The PROXY protocol v1 line for a connection from `src` to `dst`. */
export function proxyV1Header(src: { address: string; port: number }, dst: { address: string; port: number }): string {
  const s = plainAddress(src.address);
  const d = plainAddress(dst.address);
  const fs = isIP(s);
  if (fs === 0 || fs !== isIP(d)) return 'PROXY UNKNOWN\r\n';
  return `PROXY ${fs === 4 ? 'TCP4' : 'TCP6'} ${s} ${d} ${src.port} ${dst.port}\r\n`;
}

/** Connects to an endpoint, failing after `timeoutMs`. */
function connectEndpoint(ep: ServiceEndpoint, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ep.address, port: ep.port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`connect to ${endpointKey(ep)} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeListener('error', reject);
      resolve(sock);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Joins two sockets both ways; `done` runs once when both have closed. */
function splice(client: Socket, backend: Socket, done: () => void): void {
  client.setNoDelay(true);
  backend.setNoDelay(true);
  // pipe() carries each side's FIN to the other (half-close) and applies back-pressure.
  client.pipe(backend);
  backend.pipe(client);
  // An error (reset) on one side means the conversation is over: cut the other too.
  client.on('error', () => backend.destroy());
  backend.on('error', () => client.destroy());
  let open = 2;
  const closed = (hadError: boolean, other: Socket) => {
    if (hadError) other.destroy();
    if (--open === 0) done();
  };
  client.once('close', (e) => closed(e, backend));
  backend.once('close', (e) => closed(e, client));
}

/** Starts one listener forwarding to one service. */
export async function listenServiceProxy(opts: ServiceProxyOptions): Promise<ServiceProxyListener> {
  const log = opts.logger ?? silentLogger();
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  const name = serviceKey(opts.service.namespace, opts.service.name);
  const clients = new Set<Socket>();

  const handle = async (client: Socket): Promise<void> => {
    clients.add(client);
    client.once('close', () => clients.delete(client));
    client.on('error', (e) => log.debug({ err: e, service: name }, 'proxy: client error'));
    const tried = new Set<string>();
    for (;;) {
      const entry = opts.table.get(opts.service.namespace, opts.service.name);
      const ep = entry && opts.table.pick(entry, { exclude: tried, ...(opts.strategy ? { strategy: opts.strategy } : {}) });
      if (!entry || !ep) break;
      tried.add(endpointKey(ep));
      let backend: Socket;
      try {
        backend = await connectEndpoint(ep, connectTimeoutMs);
      } catch (e) {
        log.info({ err: e, service: name, endpoint: endpointKey(ep) }, 'proxy: endpoint failed, trying the next one');
        opts.table.markFailed(entry, ep);
        continue;
      }
      if (client.destroyed) {
        backend.destroy();
        return;
      }
      if (opts.proxyProtocol) {
        backend.write(proxyV1Header({ address: client.remoteAddress ?? '', port: client.remotePort ?? 0 }, { address: client.localAddress ?? '', port: client.localPort ?? 0 }));
      }
      splice(client, backend, opts.table.acquire(entry, ep));
      return;
    }
    log.info({ service: name, tried: tried.size }, 'proxy: no healthy endpoint');
    // A reset, like the refused connect the client would get from a dead service.
    client.resetAndDestroy();
  };

  // pauseOnConnect: the client's first bytes wait, unread, until a backend is connected.
  const server: Server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (c) => void handle(c));
  server.listen(opts.port, opts.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
  server.on('error', (e) => log.warn({ err: e, service: name }, 'proxy: listener error'));
  const port = (server.address() as AddressInfo).port;

  return {
    host: opts.host,
    port,
    get connections() {
      return clients.size;
    },
    async close(graceMs = 10_000) {
      const stopped = new Promise<void>((r) => server.close(() => r()));
      if (clients.size > 0) {
        const drained = new Promise<void>((r) => {
          const check = () => clients.size === 0 && r();
          for (const c of clients) c.once('close', () => setImmediate(check));
        });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const c of clients) c.destroy();
      }
      await stopped;
    },
  };
}

export interface VipProxyOptions {
  table: ServiceTable;
  proxyProtocol?: boolean;
  connectTimeoutMs?: number;
  strategy?: BalanceStrategy;
  /** How long open connections may finish when their listener goes. Default 10 s. */
  graceMs?: number;
  logger?: Logger;
}

/** One VIP listener as it stands: bound, or why it could not be. */
export interface VipListenerStatus {
  service: string;
  host: string;
  port: number;
  error?: string;
}

/**
 * Keeps one listener per service VIP:port in step with the ServiceTable: a new service
 * gets a listener, a removed one (or one whose VIP or port changed) has its listener
 * closed gracefully. The VIP addresses must already be on an interface of the node
 * (a dummy interface, in the agent's wiring); a bind failure is kept in `status()` and
 * retried at the next change of the table.
 */
export class VipProxy {
  private listeners = new Map<string, { service: string; listener: ServiceProxyListener }>();
  private failures = new Map<string, VipListenerStatus>();
  private queue: Promise<void> = Promise.resolve();
  private subscription: { dispose(): void } | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly opts: VipProxyOptions) {
    this.log = opts.logger ?? silentLogger();
  }

  /** Binds listeners for the services in the table now and follows its changes. */
  async start(): Promise<void> {
    this.subscription = this.opts.table.onChange(() => void this.sync());
    await this.sync();
  }

  /** Every listener wanted by the table, bound or not. */
  status(): VipListenerStatus[] {
    const bound = [...this.listeners.values()].map(({ service, listener }) => ({ service, host: listener.host, port: listener.port }));
    return [...bound, ...this.failures.values()];
  }

  /** Brings the listeners in line with the table (serialised: one sync at a time). */
  sync(): Promise<void> {
    this.queue = this.queue.then(() => this.syncNow()).catch((e: unknown) => this.log.warn({ err: e }, 'vip proxy: sync failed'));
    return this.queue;
  }

  private async syncNow(): Promise<void> {
    if (this.closed) return;
    const wanted = new Map<string, { namespace: string; name: string; vip: string; port: number }>();
    for (const s of this.opts.table.list()) {
      if (s.vip && s.port > 0) wanted.set(`${s.vip}|${s.port}`, s);
    }
    const closing: Promise<void>[] = [];
    for (const [bind, { service, listener }] of this.listeners) {
      const w = wanted.get(bind);
      if (!w || serviceKey(w.namespace, w.name) !== service) {
        this.listeners.delete(bind);
        closing.push(listener.close(this.opts.graceMs));
      }
    }
    this.failures.clear();
    // Old listeners release their address before new ones bind it (a VIP handed to
    // another service); their drain goes on in the background.
    for (const [bind, s] of wanted) {
      if (this.listeners.has(bind)) continue;
      const service = serviceKey(s.namespace, s.name);
      try {
        const listener = await listenServiceProxy({
          table: this.opts.table,
          service: { namespace: s.namespace, name: s.name },
          host: s.vip,
          port: s.port,
          logger: this.log,
          ...(this.opts.proxyProtocol !== undefined ? { proxyProtocol: this.opts.proxyProtocol } : {}),
          ...(this.opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: this.opts.connectTimeoutMs } : {}),
          ...(this.opts.strategy ? { strategy: this.opts.strategy } : {}),
        });
        this.listeners.set(bind, { service, listener });
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        this.log.warn({ service, vip: s.vip, port: s.port, error }, 'vip proxy: cannot listen');
        this.failures.set(bind, { service, host: s.vip, port: s.port, error });
      }
    }
    void Promise.all(closing);
  }

  /** Stops following the table and closes every listener (graceful, up to graceMs). */
  async close(): Promise<void> {
    this.subscription?.dispose();
    await this.queue;
    this.closed = true;
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map(({ listener }) => listener.close(this.opts.graceMs)));
  }
}
