import type { IngressRoute } from '../../core/ingress.js';
import { dnsAddressOf, type Catalog } from '../../core/service.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import type { Rng } from '../../lib/rng.js';
import { CatalogFollower, serviceEntriesOf, type CatalogSource } from './catalog-follower.js';
import { startDnsServer, type DnsUpstream, type KaruDnsServer } from './dns-server.js';
import { DATAPLANE_INTERFACE, inIpv4Range, ipHostNetwork, type HostNetwork } from './host-network.js';
import { startHttpIngress, type HttpIngress } from './http-ingress.js';
import { ListenError, startIngressWorkers, type IngressWorkers } from './ingress-workers.js';
import { hostUpstream } from './resolv-conf.js';
import { ServiceTable } from './service-table.js';
import { listenServiceProxy, VipProxy, type ServiceProxyListener } from './tcp-proxy.js';

/**
 * The node's data plane as the agent runs it: one ServiceTable fed by the catalog, and
 * what reads it — the DNS server for containers, a proxy on every service VIP, and (on
 * ingress nodes) the HTTP ingress and the TCP ingress ports. See networking.md §4.
 *
 * Level-triggered: every catalog answer is the whole catalog, and the table, the VIP
 * addresses on `karu0`, the ingress routes and the TCP ingress listeners are made to
 * match it. Nothing here may take the agent down: a part that cannot start (not root, a
 * port taken) is logged once and the rest runs without it.
 */

export interface IngressConfig {
  /** Address the ingress listens on. */
  address: string;
  /** HTTP port; 0 picks a free one. */
  httpPort: number;
  /** HTTPS with the user's certificate and key (PEM text). */
  https?: { port: number; cert: string | Buffer; key: string | Buffer };
  /**
   * Processes serving HTTP(S), forked by the agent (ingress-workers.ts). Absent or 1: the
   * ingress runs in this process. TCP ingress ports always run in this process.
   */
  workers?: number;
}

export interface NodeDataPlaneOptions {
  /** The catalog's blocking query. */
  catalog: CatalogSource;
  /** Default: `ip` in the agent's network namespace. */
  network?: HostNetwork;
  /** Default `karu0`. */
  interfaceName?: string;
  /**
   * Where DNS listens and forwards. Defaults: the node's DNS address (the service range's
   * first address, on `karu0`) port 53, upstream from /etc/resolv.conf. Tests bind a
   * loopback address and a high port.
   */
  dns?: { host?: string; port?: number; upstream?: DnsUpstream | null };
  /** Run the HTTP (and HTTPS) ingress and the TCP ingress ports. Absent: none. */
  ingress?: IngressConfig;
  /** How often VIP addresses and listeners are re-checked besides catalog changes. Default 30 s. */
  resyncMs?: number;
  /** Blocking catalog query wait. Default 30 s. */
  catalogWaitMs?: number;
  /** Open connections' grace when a VIP listener goes. Default 10 s. */
  graceMs?: number;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

/** What the agent needs of its data plane (NodeDataPlane, or nothing with --no-dataplane). */
export interface AgentDataPlane {
  /** Starts everything for the cluster's service range; never throws for a part that cannot run. */
  start(opts: { serviceCidr: string }): Promise<void>;
  /** The DNS server containers are given (undefined: they keep Docker's default). */
  readonly dnsServer: string | undefined;
  /** Stops serving; VIP addresses stay on karu0 so a restarted agent takes over seamlessly. */
  stop(): Promise<void>;
}

/** What the data plane runs right now, for logs, tests and a future `karu node show`. */
export interface DataPlaneStatus {
  dnsAddress: string;
  /** karu0 and its addresses are managed (false: not root, or no `ip`). */
  vips: boolean;
  dns?: { host: string; port: number };
  ingressHttp?: { host: string; port: number };
  ingressHttps?: { host: string; port: number };
  /** Process ids of the ingress workers serving now (absent: the ingress runs in the agent's process). */
  ingressWorkers?: number[];
  tcpIngress: { port: number; service: string }[];
  catalogIndex: number;
  services: number;
}

/** HTTP routes of the catalog's services' ingress rules. */
export function ingressRoutesOf(catalog: Catalog): IngressRoute[] {
  const routes: IngressRoute[] = [];
  for (const s of catalog.services) {
    for (const r of s.ingress) {
      if (r.kind !== 'http') continue;
      routes.push({ ...(r.host ? { host: r.host } : {}), pathPrefix: r.pathPrefix, service: s.name, namespace: s.namespace, port: s.portLabel, owner: { job: s.job } });
    }
  }
  return routes;
}

/** A TCP ingress port and the service it forwards to. */
export interface TcpIngressRoute {
  port: number;
  proxyProtocol: boolean;
  namespace: string;
  name: string;
}

/**
 * TCP routes of the catalog by port. The API refuses a second claim on a port, so two
 * here is a race of submissions: the first in a stable order wins and the other is reported.
 */
export function tcpIngressOf(catalog: Catalog): { routes: TcpIngressRoute[]; conflicts: string[] } {
  const byPort = new Map<number, TcpIngressRoute>();
  const conflicts: string[] = [];
  const services = [...catalog.services].sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  for (const s of services) {
    for (const r of s.ingress) {
      if (r.kind !== 'tcp') continue;
      const had = byPort.get(r.port);
      if (had) {
        conflicts.push(`tcp ingress port ${r.port}: ${s.namespace}/${s.name} ignored, ${had.namespace}/${had.name} has it`);
        continue;
      }
      byPort.set(r.port, { port: r.port, proxyProtocol: r.proxyProtocol, namespace: s.namespace, name: s.name });
    }
  }
  return { routes: [...byPort.values()], conflicts };
}

export class NodeDataPlane implements AgentDataPlane {
  /** The node's copy of the catalog that DNS, VIP proxy and ingress read. */
  readonly table: ServiceTable;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly network: HostNetwork;
  private readonly ifname: string;
  private follower: CatalogFollower | undefined;
  private dns: KaruDnsServer | undefined;
  private vipProxy: VipProxy | undefined;
  private http: HttpIngress | undefined;
  private https: HttpIngress | undefined;
  /** The HTTP(S) ingress in worker processes (instead of `http`/`https`) with `ingress.workers` > 1. */
  private ingressWorkers: IngressWorkers | undefined;
  private readonly tcpIngress = new Map<number, { key: string; listener: ServiceProxyListener }>();
  private dnsAddress = '';
  private serviceCidr = '';
  private vipsOn = false;
  private lastCatalog: Catalog | undefined;
  private queue: Promise<void> = Promise.resolve();
  private cancelResync: (() => void) | undefined;
  /** The last address-sync error, so an outage of `ip` is logged once, not every 30 s. */
  private lastNetworkError: string | undefined;
  private stopped = false;

  constructor(private readonly opts: NodeDataPlaneOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'dataplane' });
    this.clock = opts.clock ?? systemClock;
    this.network = opts.network ?? ipHostNetwork();
    this.ifname = opts.interfaceName ?? DATAPLANE_INTERFACE;
    this.table = new ServiceTable({ clock: this.clock });
  }

  get dnsServer(): string | undefined {
    // Containers reach the DNS server only on karu0 (never on the host's loopback).
    return this.vipsOn && this.dns ? this.dns.host : undefined;
  }

  status(): DataPlaneStatus {
    return {
      dnsAddress: this.dnsAddress,
      vips: this.vipsOn,
      ...(this.dns ? { dns: { host: this.dns.host, port: this.dns.port } } : {}),
      ...(this.http ? { ingressHttp: { host: this.http.host, port: this.http.port } } : {}),
      ...(this.https ? { ingressHttps: { host: this.https.host, port: this.https.port } } : {}),
      ...(this.ingressWorkers?.http ? { ingressHttp: { ...this.ingressWorkers.http } } : {}),
      ...(this.ingressWorkers?.https ? { ingressHttps: { ...this.ingressWorkers.https } } : {}),
      ...(this.ingressWorkers ? { ingressWorkers: this.ingressWorkers.pids() } : {}),
      tcpIngress: [...this.tcpIngress.entries()].map(([port, t]) => ({ port: t.listener.port || port, service: t.key.split('|')[0]! })),
      catalogIndex: this.follower?.index ?? 0,
      services: this.table.list().length,
    };
  }

  async start({ serviceCidr }: { serviceCidr: string }): Promise<void> {
    this.serviceCidr = serviceCidr;
    this.dnsAddress = dnsAddressOf(serviceCidr);
    await this.setUpInterface();
    await this.startDns();
    if (this.vipsOn) {
      this.vipProxy = new VipProxy({ table: this.table, logger: this.log, ...(this.opts.graceMs !== undefined ? { graceMs: this.opts.graceMs } : {}) });
      await this.vipProxy.start();
    }
    await this.startIngress();
    this.follower = new CatalogFollower({
      source: this.opts.catalog,
      onCatalog: (c) => this.enqueue(() => this.apply(c)),
      clock: this.clock,
      logger: this.log,
      ...(this.opts.rng ? { rng: this.opts.rng } : {}),
      ...(this.opts.catalogWaitMs !== undefined ? { waitMs: this.opts.catalogWaitMs } : {}),
    });
    this.follower.start();
    this.scheduleResync();
    this.log.info(this.status(), 'data plane started');
  }

  /** Resolves once the data plane has applied a catalog of at least `index` (tests). */
  async applied(): Promise<void> {
    await this.queue;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelResync?.();
    await this.follower?.stop();
    await this.queue;
    // VIP addresses stay on karu0: a restarted agent binds them again at once, and
    // containers' resolv.conf keeps pointing at a live address.
    const closing: Promise<unknown>[] = [];
    if (this.vipProxy) closing.push(this.vipProxy.close());
    if (this.dns) closing.push(this.dns.close());
    if (this.http) closing.push(this.http.close(this.opts.graceMs));
    if (this.https) closing.push(this.https.close(this.opts.graceMs));
    if (this.ingressWorkers) closing.push(this.ingressWorkers.close(this.opts.graceMs));
    for (const { listener } of this.tcpIngress.values()) closing.push(listener.close(this.opts.graceMs));
    this.tcpIngress.clear();
    await Promise.allSettled(closing);
  }

  // ---- start-up parts: each may fail alone

  private async setUpInterface(): Promise<void> {
    try {
      await this.network.ensureInterface(this.ifname);
      await this.network.addAddress(this.ifname, this.dnsAddress);
      this.vipsOn = true;
    } catch (e) {
      this.log.warn(
        { err: errorMessage(e), interface: this.ifname },
        `cannot set up ${this.ifname} (the agent needs root and iproute2's \`ip\`): service VIPs are off and DNS listens on 127.0.0.1 only, so containers on this node cannot reach services by name`,
      );
    }
  }

  private async startDns(): Promise<void> {
    const host = this.opts.dns?.host ?? (this.vipsOn ? this.dnsAddress : '127.0.0.1');
    const port = this.opts.dns?.port ?? 53;
    const upstream = this.opts.dns?.upstream === undefined ? await hostUpstream([this.dnsAddress, host]) : (this.opts.dns.upstream ?? undefined);
    try {
      this.dns = await startDnsServer({ table: this.table, host, port, namespace: 'default', logger: this.log, ...(upstream ? { upstream } : {}) });
    } catch (e) {
      this.log.warn({ err: errorMessage(e), host, port }, 'cannot start the DNS server: containers on this node cannot resolve services by name');
    }
  }

  private async startIngress(): Promise<void> {
    const cfg = this.opts.ingress;
    if (!cfg) return;
    if ((cfg.workers ?? 1) > 1 && (await this.startIngressWorkers(cfg))) return;
    try {
      this.http = await startHttpIngress({ table: this.table, host: cfg.address, port: cfg.httpPort, logger: this.log });
    } catch (e) {
      this.log.warn({ err: errorMessage(e), address: cfg.address, port: cfg.httpPort }, 'cannot start the HTTP ingress');
    }
    if (!cfg.https) return;
    try {
      this.https = await startHttpIngress({ table: this.table, host: cfg.address, port: cfg.https.port, tls: { cert: cfg.https.cert, key: cfg.https.key }, logger: this.log });
    } catch (e) {
      this.log.warn({ err: errorMessage(e), address: cfg.address, port: cfg.https.port }, 'cannot start the HTTPS ingress');
    }
  }

  /**
   * The HTTP(S) ingress in `cfg.workers` processes. False when the workers themselves
   * cannot run (then the ingress runs in this process instead); a port that cannot be
   * bound is logged as for the in-process ingress.
   */
  private async startIngressWorkers(cfg: IngressConfig): Promise<boolean> {
    try {
      this.ingressWorkers = await startIngressWorkers({
        workers: cfg.workers ?? 1,
        host: cfg.address,
        httpPort: cfg.httpPort,
        ...(cfg.https ? { https: cfg.https } : {}),
        clock: this.clock,
        logger: this.log,
        ...(this.opts.rng ? { rng: this.opts.rng } : {}),
      });
      const { errors } = this.ingressWorkers;
      if (errors.http) this.log.warn({ err: errors.http, address: cfg.address, port: cfg.httpPort }, 'cannot start the HTTP ingress');
      if (errors.https) this.log.warn({ err: errors.https, address: cfg.address, port: cfg.https?.port }, 'cannot start the HTTPS ingress');
      return true;
    } catch (e) {
      if (e instanceof ListenError) {
        this.log.warn({ err: errorMessage(e), address: cfg.address, port: cfg.httpPort }, 'cannot start the HTTP ingress');
        return true;
      }
      this.log.warn({ err: errorMessage(e), workers: cfg.workers }, 'cannot start the ingress worker processes: the ingress runs in the agent process');
      return false;
    }
  }

  // ---- following the catalog

  /** One change at a time, in order: addresses, then the table, then ingress. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(fn).catch((e: unknown) => this.log.warn({ err: errorMessage(e) }, 'data plane sync failed'));
    return this.queue;
  }

  private async apply(catalog: Catalog): Promise<void> {
    if (this.stopped) return;
    this.lastCatalog = catalog;
    const entries = serviceEntriesOf(catalog);
    const wanted = new Set([this.dnsAddress, ...entries.map((e) => e.vip).filter(Boolean)]);
    // New VIPs exist before the table changes, so the VIP proxy can bind them at once.
    if (this.vipsOn) await this.syncAddresses(wanted, false);
    const change = this.table.set(entries);
    const routes = ingressRoutesOf(catalog);
    this.http?.setRoutes(routes);
    this.https?.setRoutes(routes);
    // Not awaited: a slow worker must not hold up the rest of the data plane.
    void this.ingressWorkers?.setState(entries, routes);
    await this.syncTcpIngress(catalog);
    // Gone VIPs go after their listeners have (the proxy closes them on the table change).
    if (this.vipsOn) await this.syncAddresses(wanted, true);
    const n = change.added.length + change.updated.length + change.removed.length;
    if (n > 0) this.log.debug({ index: catalog.index, added: change.added.length, updated: change.updated.length, removed: change.removed.length }, 'service table updated');
  }

  /** Makes karu0's addresses match `wanted`: adds missing ones; with `remove`, drops the rest. */
  private async syncAddresses(wanted: ReadonlySet<string>, remove: boolean): Promise<void> {
    try {
      await this.network.ensureInterface(this.ifname);
      const have = new Set(await this.network.addresses(this.ifname));
      for (const a of wanted) if (!have.has(a)) await this.network.addAddress(this.ifname, a);
      // Only addresses of the service range are ours: anything else an operator put there stays.
      if (remove) for (const a of have) if (!wanted.has(a) && inIpv4Range(a, this.serviceCidr)) await this.network.removeAddress(this.ifname, a);
      if (this.lastNetworkError !== undefined) this.log.info({ interface: this.ifname }, 'VIP addresses in step again');
      this.lastNetworkError = undefined;
    } catch (e) {
      const msg = errorMessage(e);
      if (msg !== this.lastNetworkError) this.log.warn({ err: msg, interface: this.ifname }, 'cannot update the VIP addresses; retrying');
      this.lastNetworkError = msg;
    }
  }

  private async syncTcpIngress(catalog: Catalog): Promise<void> {
    const cfg = this.opts.ingress;
    if (!cfg) return;
    const { routes, conflicts } = tcpIngressOf(catalog);
    for (const c of conflicts) this.log.warn({}, c);
    const wanted = new Map(routes.map((r) => [r.port, r]));
    const keyOf = (r: TcpIngressRoute) => `${r.namespace}/${r.name}|${r.proxyProtocol}`;
    for (const [port, t] of this.tcpIngress) {
      const w = wanted.get(port);
      if (!w || keyOf(w) !== t.key) {
        this.tcpIngress.delete(port);
        // Free the port first: a changed route binds it again right below.
        await t.listener.close(0);
      }
    }
    for (const r of routes) {
      if (this.tcpIngress.has(r.port)) continue;
      try {
        const listener = await listenServiceProxy({
          table: this.table,
          service: { namespace: r.namespace, name: r.name },
          host: cfg.address,
          port: r.port,
          proxyProtocol: r.proxyProtocol,
          logger: this.log,
        });
        this.tcpIngress.set(r.port, { key: keyOf(r), listener });
      } catch (e) {
        this.log.warn({ err: errorMessage(e), port: r.port, service: `${r.namespace}/${r.name}` }, 'cannot listen on a TCP ingress port; retrying at the next sync');
      }
    }
  }

  /** Level-triggered repair: a deleted address, a VIP that could not bind, a failed port. */
  private scheduleResync(): void {
    const every = this.opts.resyncMs ?? 30_000;
    this.cancelResync = this.clock.setTimer(every, () => {
      if (this.stopped) return;
      void this.enqueue(async () => {
        if (this.lastCatalog) await this.apply(this.lastCatalog);
        else if (this.vipsOn) await this.syncAddresses(new Set([this.dnsAddress]), false);
        await this.vipProxy?.sync();
      }).finally(() => this.scheduleResync());
    });
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
