import { ValidationError } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { DEFAULT_SERVICE_CIDR } from '../core/service.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { hashSeed, seededRng } from '../lib/rng.js';
import type { ServiceVip, StateCache, StateDelete, StateStore, StateWrite, Versioned } from '../store/state.js';
import { WorkQueue } from './work-queue.js';

/**
 * Stable virtual IPs for services (docs/design/networking.md §3). Each service
 * (namespace/name) declared by some job holds one address of the service range, persisted
 * in the store so a server restart keeps it; it is freed when no job declares the service
 * any more (the job was purged, or the service dropped from its spec). A stopped job keeps
 * its VIPs: started again, its clients find the same address.
 */

/** An IPv4 range as numbers: `first`..`last` are the addresses VIPs may take. */
export interface ServiceRange {
  cidr: string;
  /** The network address + 1: every node's DNS server (`dnsAddressOf`), never a VIP. */
  dns: number;
  first: number;
  last: number;
}

/**
 * Parses `a.b.c.d/len` (len 8..30). The network address, the DNS address (network + 1)
 * and the broadcast address are never handed out.
 */
export function parseServiceCidr(cidr: string): ServiceRange {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const len = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || !(len >= 8 && len <= 30)) {
    throw new ValidationError(`invalid service CIDR '${cidr}'`, [
      { path: 'serviceCidr', message: `must be an IPv4 range a.b.c.d/N with N from 8 to 30, e.g. ${DEFAULT_SERVICE_CIDR}` },
    ]);
  }
  const size = 2 ** (32 - len);
  const base = octets.reduce((n, o) => n * 256 + o, 0);
  const network = base - (base % size);
  if (network !== base) {
    throw new ValidationError(`invalid service CIDR '${cidr}'`, [{ path: 'serviceCidr', message: `host bits are set: the range starts at ${ipToString(network)}/${len}` }]);
  }
  return { cidr, dns: network + 1, first: network + 2, last: network + size - 2 };
}

export function ipToString(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function ipToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** `namespace/name`: the catalog's key of a service. */
export const serviceKey = (namespace: string, name: string): string => `${namespace}/${name}`;

/** Every service key the job declares. */
export function declaredServices(job: Job): string[] {
  const out: string[] = [];
  for (const g of job.groups) for (const s of g.services ?? []) out.push(serviceKey(job.namespace, s.name));
  return out;
}

export interface ServiceVipsOptions {
  /** The range VIPs come from. Default DEFAULT_SERVICE_CIDR (10.99.0.0/16). */
  serviceCidr?: string;
}

/**
 * The VIP controller: level-based over the set of declared services. One key ('vips') in
 * its own work queue, so bursts of job writes coalesce into one reconcile and a failed
 * write (a conflict) retries with backoff. Readers (the catalog) call `vipOf`, which
 * answers from memory.
 */
export class ServiceVips {
  readonly range: ServiceRange;
  private readonly vips = new Map<string, Versioned<ServiceVip>>();
  private readonly queue: WorkQueue;
  private readonly listeners = new Set<() => void>();
  /** Services already warned about for lack of an address (warned once each, until they get one). */
  private readonly starved = new Set<string>();
  private unsubscribe: (() => void) | undefined;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    opts: ServiceVipsOptions = {},
  ) {
    this.range = parseServiceCidr(opts.serviceCidr ?? DEFAULT_SERVICE_CIDR);
    this.queue = new WorkQueue('service-vips', () => this.reconcile(), { clock: deps.clock, rng: seededRng('service-vips'), logger: deps.logger });
  }

  /** Loads the stored VIPs and makes the first pass; resolves once both are done (or the pass failed and was requeued). */
  start(): Promise<void> {
    // Subscribe before the load (watch before read): a job written meanwhile queues a pass.
    this.unsubscribe = this.deps.cache.subscribe((changes) => {
      for (const c of changes) {
        if (c.type !== 'job') continue;
        const before = c.before ? declaredServices(c.before).join(',') : '';
        const after = c.after ? declaredServices(c.after).join(',') : '';
        if (before !== after) {
          this.queue.add('vips');
          return;
        }
      }
    });
    this.loaded = (async () => {
      await this.load();
      this.queue.add('vips');
      await this.queue.idle();
    })().catch((err: unknown) => {
      this.deps.logger.error({ err }, 'loading service VIPs failed; services are served without VIPs until a job changes');
    });
    return this.loaded;
  }

  /** Resolves once the stored VIPs are loaded and the first pass ran. */
  ready(): Promise<void> {
    return this.loaded ?? Promise.resolve();
  }

  stop(): void {
    this.unsubscribe?.();
    this.queue.stop();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** The service's VIP, or '' while it has none (range exhausted, or not reconciled yet). */
  vipOf(namespace: string, name: string): string {
    return this.vips.get(serviceKey(namespace, name))?.value.vip ?? '';
  }

  /** Called after every pass that changed some VIP. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** One pass: give every declared service without a (valid) VIP one, free those nobody declares. */
  private async reconcile(): Promise<void> {
    const { cache, clock, stateStore, logger } = this.deps;
    const wanted = new Map<string, { namespace: string; name: string }>();
    for (const job of cache.jobs()) {
      for (const g of job.groups) for (const s of g.services ?? []) wanted.set(serviceKey(job.namespace, s.name), { namespace: job.namespace, name: s.name });
    }
    const writes: StateWrite[] = [];
    const deletes: StateDelete[] = [];
    for (const [key, v] of this.vips) if (!wanted.has(key)) deletes.push({ kind: 'serviceVip', namespace: v.value.namespace, name: v.value.name });

    // Keep every held VIP that is still in the range (the server may have come back with
    // another --service-cidr) and not a duplicate; the rest get a new one below.
    const taken = new Set<number>();
    const needing: string[] = [];
    for (const key of [...wanted.keys()].sort()) {
      const n = this.vips.has(key) ? ipToNumber(this.vips.get(key)!.value.vip) : undefined;
      if (n !== undefined && n >= this.range.first && n <= this.range.last && !taken.has(n)) taken.add(n);
      else needing.push(key);
    }
    const now = clock.now();
    for (const key of needing) {
      const svc = wanted.get(key)!;
      const current = this.vips.get(key);
      const ip = this.pick(key, taken);
      if (ip === undefined) {
        if (!this.starved.has(key)) {
          this.starved.add(key);
          logger.warn({ service: key, serviceCidr: this.range.cidr }, 'no free VIP left in the service range: the service gets none (reached by its endpoint addresses only); widen --service-cidr');
        }
        if (current) deletes.push({ kind: 'serviceVip', namespace: svc.namespace, name: svc.name });
        continue;
      }
      this.starved.delete(key);
      taken.add(ip);
      const value: ServiceVip = { namespace: svc.namespace, name: svc.name, vip: ipToString(ip), allocatedAt: now };
      writes.push({ kind: 'serviceVip', value, expectedModRevision: current?.modRevision ?? 0 });
    }
    if (writes.length === 0 && deletes.length === 0) return;
    let revision: number;
    try {
      revision = await stateStore.commit(writes, deletes);
    } catch (err) {
      // Someone else wrote VIPs (a second server?): start again from what the store holds.
      await this.load();
      throw err;
    }
    for (const d of deletes) if (d.kind === 'serviceVip') this.vips.delete(serviceKey(d.namespace, d.name));
    for (const w of writes) if (w.kind === 'serviceVip') this.vips.set(serviceKey(w.value.namespace, w.value.name), { value: w.value, modRevision: revision });
    await cache.waitFor(revision);
    logger.info({ allocated: writes.length, freed: deletes.length }, 'service VIPs updated');
    for (const l of [...this.listeners]) l();
  }

  private async load(): Promise<void> {
    const stored = await this.deps.stateStore.listServiceVips();
    this.vips.clear();
    for (const v of stored) this.vips.set(serviceKey(v.value.namespace, v.value.name), v);
  }

  /**
   * A free address for `key`: probing from a hash of the name, so a service removed and
   * declared again usually gets its old VIP back, and a freed VIP is not the next one
   * handed out (agents' DNS caches may still name it for a few seconds).
   */
  private pick(key: string, taken: Set<number>): number | undefined {
    const size = this.range.last - this.range.first + 1;
    if (taken.size >= size) return undefined;
    const start = hashSeed(key) % size;
    for (let i = 0; i < size; i++) {
      const ip = this.range.first + ((start + i) % size);
      if (!taken.has(ip)) return ip;
    }
    return undefined;
  }
}
