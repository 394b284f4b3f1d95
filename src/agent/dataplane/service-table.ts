import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import type { Disposable } from '../../lib/disposable.js';
import { toDisposable } from '../../lib/disposable.js';

/**
 * The agent's view of the service catalog: every service of the cluster with its virtual
 * IP and its endpoints. The DNS server, the VIP proxy and the HTTP ingress all read this
 * one table, so a catalog change reaches all three at once. No overlay network: an
 * endpoint is a node address plus a host port.
 */

/** Service names live under this pseudo top-level domain: `NAME.NAMESPACE.karu`. */
export const SERVICE_DOMAIN = 'karu';

/** One instance of a service: where it listens, and what its health check last said. */
export interface ServiceEndpoint {
  /** The node's address (IPv4 or IPv6 literal). */
  address: string;
  /** The host port of the allocation. */
  port: number;
  /** The catalog's (active) health: only healthy endpoints are ever picked. */
  healthy: boolean;
  /** The allocation it belongs to, for logs and `karu service show`. */
  allocId?: string;
}

/** A service as the data plane sees it. */
export interface ServiceEntry {
  namespace: string;
  name: string;
  /** The virtual IP the node-local proxy listens on (empty: no VIP, DNS-only service). */
  vip: string;
  /** The port clients use on the VIP (`NAME:PORT`), usually the container's port. */
  port: number;
  /** The group's port label the service was declared on. */
  portLabel?: string;
  tags?: string[];
  endpoints: ServiceEndpoint[];
}

/** What changed in one `set()`; entries are the new ones (the old ones for `removed`). */
export interface ServiceTableChange {
  added: ServiceEntry[];
  updated: ServiceEntry[];
  removed: ServiceEntry[];
}

/** How to choose among healthy endpoints. */
export type BalanceStrategy = 'round-robin' | 'least-connections';

export interface PickOptions {
  strategy?: BalanceStrategy;
  /** Endpoints already tried for this connection (keys from `endpointKey`). */
  exclude?: ReadonlySet<string>;
}

export interface ServiceTableOptions {
  clock?: Clock;
  /** How long an endpoint that refused a connection stays out of rotation. Default 5 s. */
  failureCooldownMs?: number;
  /** Default strategy of `pick`. Default round-robin. */
  strategy?: BalanceStrategy;
}

/** `namespace/name`: the table's key of a service. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** `address:port` (IPv6 in brackets): the key of an endpoint within a service. */
export function endpointKey(ep: { address: string; port: number }): string {
  return ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
}

/** A lower-case name without the trailing root dot. */
function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function sameEntry(a: ServiceEntry, b: ServiceEntry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The table. `set()` replaces its whole content (level-triggered: the caller hands over
 * the catalog as it is now, so a lost or repeated update is harmless) and emits what
 * changed. Picking is done per connection, on the table as it is at that moment, so an
 * endpoint removed by `set()` gets no new connection from then on.
 */
export class ServiceTable {
  private services = new Map<string, ServiceEntry>();
  private listeners = new Set<(change: ServiceTableChange) => void>();
  /** Round-robin cursor per service. */
  private cursors = new Map<string, number>();
  /** Open connections per `serviceKey|endpointKey`, for least-connections. */
  private active = new Map<string, number>();
  /** Passive health: `serviceKey|endpointKey` → time it may rejoin rotation. */
  private failedUntil = new Map<string, number>();
  private readonly clock: Clock;
  private readonly cooldownMs: number;
  private readonly strategy: BalanceStrategy;

  constructor(opts: ServiceTableOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.cooldownMs = opts.failureCooldownMs ?? 5_000;
    this.strategy = opts.strategy ?? 'round-robin';
  }

  /** Replaces the table's content with `services` and notifies listeners of the difference. */
  set(services: readonly ServiceEntry[]): ServiceTableChange {
    const next = new Map<string, ServiceEntry>();
    for (const s of services) {
      const entry: ServiceEntry = { ...s, namespace: normalizeName(s.namespace), name: normalizeName(s.name), endpoints: s.endpoints.map((e) => ({ ...e })) };
      next.set(serviceKey(entry.namespace, entry.name), entry);
    }
    const change: ServiceTableChange = { added: [], updated: [], removed: [] };
    for (const [key, entry] of next) {
      const old = this.services.get(key);
      if (!old) change.added.push(entry);
      else if (!sameEntry(old, entry)) change.updated.push(entry);
    }
    for (const [key, old] of this.services) {
      if (!next.has(key)) {
        change.removed.push(old);
        this.cursors.delete(key);
      }
    }
    this.services = next;
    // Forget passive failures of endpoints that are gone, so the map cannot grow forever.
    for (const k of this.failedUntil.keys()) {
      const [svc, ep] = k.split('|') as [string, string];
      const entry = next.get(svc);
      if (!entry || !entry.endpoints.some((e) => endpointKey(e) === ep)) this.failedUntil.delete(k);
    }
    if (change.added.length + change.updated.length + change.removed.length > 0) {
      for (const l of [...this.listeners]) l(change);
    }
    return change;
  }

  /** Calls `listener` after every `set()` that changed something. */
  onChange(listener: (change: ServiceTableChange) => void): Disposable {
    this.listeners.add(listener);
    return toDisposable(() => this.listeners.delete(listener));
  }

  /** Every service, in no particular order. */
  list(): ServiceEntry[] {
    return [...this.services.values()];
  }

  get(namespace: string, name: string): ServiceEntry | undefined {
    return this.services.get(serviceKey(normalizeName(namespace), normalizeName(name)));
  }

  /**
   * Finds a service by DNS name: `NAME.NAMESPACE.karu`, or a bare `NAME` looked up in
   * `defaultNamespace` (the asking container's namespace). Case and a trailing dot do not
   * matter. Anything else (other domains, deeper names) is undefined.
   */
  lookup(dnsName: string, defaultNamespace?: string): ServiceEntry | undefined {
    const labels = normalizeName(dnsName).split('.');
    if (labels.length === 1 && defaultNamespace !== undefined) return this.get(defaultNamespace, labels[0]!);
    if (labels.length === 3 && labels[2] === SERVICE_DOMAIN) return this.get(labels[1]!, labels[0]!);
    return undefined;
  }

  /** Healthy endpoints that are not cooling down after a refused connection. */
  inRotation(entry: ServiceEntry): ServiceEndpoint[] {
    const key = serviceKey(entry.namespace, entry.name);
    const now = this.clock.now();
    return entry.endpoints.filter((e) => {
      if (!e.healthy) return false;
      const until = this.failedUntil.get(`${key}|${endpointKey(e)}`);
      return until === undefined || until <= now;
    });
  }

  /**
   * Picks the endpoint for a new connection, or undefined when none can take it.
   * Candidates are the healthy endpoints not in `exclude`; those cooling down after a
   * refused connection are skipped unless every candidate is cooling down (then all are
   * tried: a likely failure beats a certain one, and it ends an outage as soon as they
   * recover rather than a cooldown later).
   */
  pick(entry: ServiceEntry, opts: PickOptions = {}): ServiceEndpoint | undefined {
    const key = serviceKey(entry.namespace, entry.name);
    const exclude = opts.exclude;
    // The usual case (nothing excluded, nothing cooling down) builds no key strings: this runs per request on the ingress.
    const healthy = exclude ? entry.endpoints.filter((e) => e.healthy && !exclude.has(endpointKey(e))) : entry.endpoints.filter((e) => e.healthy);
    if (healthy.length === 0) return undefined;
    const fresh = this.failedUntil.size === 0 ? healthy : this.notCoolingDown(key, healthy);
    const candidates = fresh.length > 0 ? fresh : healthy;
    const cursor = this.cursors.get(key) ?? 0;
    this.cursors.set(key, cursor + 1);
    if ((opts.strategy ?? this.strategy) === 'round-robin') return candidates[cursor % candidates.length];
    // Least connections; ties broken by the round-robin cursor so equal load still spreads.
    let best: ServiceEndpoint | undefined;
    let bestLoad = Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const ep = candidates[(cursor + i) % candidates.length]!;
      const load = this.active.get(`${key}|${endpointKey(ep)}`) ?? 0;
      if (load < bestLoad) {
        best = ep;
        bestLoad = load;
      }
    }
    return best;
  }

  /** `endpoints` less those cooling down; forgets cooldowns that have ended. */
  private notCoolingDown(key: string, endpoints: ServiceEndpoint[]): ServiceEndpoint[] {
    const now = this.clock.now();
    return endpoints.filter((e) => {
      const k = `${key}|${endpointKey(e)}`;
      const until = this.failedUntil.get(k);
      if (until === undefined) return true;
      if (until > now) return false;
      this.failedUntil.delete(k);
      return true;
    });
  }

  /** Counts a connection to `ep` as open until the returned function is called (once). */
  acquire(entry: ServiceEntry, ep: ServiceEndpoint): () => void {
    const k = `${serviceKey(entry.namespace, entry.name)}|${endpointKey(ep)}`;
    this.active.set(k, (this.active.get(k) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.active.get(k) ?? 1) - 1;
      if (n <= 0) this.active.delete(k);
      else this.active.set(k, n);
    };
  }

  /** Connections currently counted against an endpoint. */
  activeConnections(entry: ServiceEntry, ep: ServiceEndpoint): number {
    return this.active.get(`${serviceKey(entry.namespace, entry.name)}|${endpointKey(ep)}`) ?? 0;
  }

  /**
   * Passive health: `ep` refused (or timed out) a connection, so it leaves rotation for
   * the cooldown. The catalog's active checks remain the authority; this only bridges
   * the time until the next check notices.
   */
  markFailed(entry: ServiceEntry, ep: ServiceEndpoint): void {
    this.failedUntil.set(`${serviceKey(entry.namespace, entry.name)}|${endpointKey(ep)}`, this.clock.now() + this.cooldownMs);
  }
}
