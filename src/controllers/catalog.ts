import { isClientTerminal, type AllocView } from '../core/alloc.js';
import { jobKey, splitJobKey, type JobKey, type NodeId } from '../core/ids.js';
import type { Group, Job, Service } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Catalog, CatalogEndpoint, CatalogService } from '../core/service.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateChange } from '../store/state.js';
import { serviceKey, type ServiceVips } from './catalog-vips.js';

/**
 * The service catalog (docs/design/networking.md §3): derived, never stored. Jobs' services
 * × their allocations × what the agents reported × the nodes give one endpoint per
 * allocation meant to run; every agent follows the result with a blocking query and feeds
 * its DNS, VIP proxy and ingress from it.
 */

/** Why an endpoint whose service declares checks is not healthy before the agent's first verdict. */
export const CHECKS_NOT_RUN = 'checks have not run yet';

/**
 * The endpoint of `svc` on allocation `a`, or undefined when `a` is not an instance of it
 * (other group, not meant to run, finished, or its version lacks the port label).
 * Healthy = the node is ready, the allocation runs, and its checks pass (no checks: it runs).
 */
export function endpointOf(svc: Service, a: AllocView, node: Node | undefined): CatalogEndpoint | undefined {
  if (a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus)) return undefined;
  const port = a.ports.find((p) => p.label === svc.portLabel && p.task === svc.task) ?? a.ports.find((p) => p.label === svc.portLabel);
  if (!port) return undefined;
  const result = a.checks?.[svc.name];
  let healthy = false;
  let output: string;
  // Failure detection is the cluster's: a node not ready takes its endpoints out at once.
  if (!node) output = `node ${a.nodeName} is not known to the server`;
  else if (node.status !== 'ready') output = `node ${node.name} is ${node.status}`;
  else if (a.clientStatus !== 'running') output = `allocation is ${a.clientStatus}`;
  else if (result) {
    healthy = result.healthy;
    output = result.output;
  } else if (svc.checks.length > 0) output = CHECKS_NOT_RUN;
  else {
    healthy = true;
    output = '';
  }
  return { allocId: a.id, nodeId: a.nodeId, nodeName: node?.name ?? a.nodeName, address: node?.address ?? '', port: port.host, healthy, output };
}

/** The port clients use on the VIP: the container port of the service's label. */
function containerPort(group: Group, svc: Service): number {
  const own = group.tasks.find((t) => t.name === svc.task)?.ports.find((p) => p.label === svc.portLabel);
  return (own ?? group.tasks.flatMap((t) => t.ports).find((p) => p.label === svc.portLabel))?.to ?? 0;
}

/** Every service `job` declares, with its endpoints among `allocs` (the job's allocations), sorted by name. */
export function jobCatalogServices(job: Job, allocs: readonly AllocView[], nodeOf: (id: NodeId) => Node | undefined, vipOf: (namespace: string, name: string) => string): CatalogService[] {
  const out: CatalogService[] = [];
  for (const group of job.groups) {
    for (const svc of group.services ?? []) {
      const endpoints: CatalogEndpoint[] = [];
      for (const a of allocs) {
        if (a.group !== group.name) continue;
        const e = endpointOf(svc, a, nodeOf(a.nodeId));
        if (e) endpoints.push(e);
      }
      endpoints.sort((x, y) => (x.allocId < y.allocId ? -1 : x.allocId > y.allocId ? 1 : 0));
      out.push({
        namespace: job.namespace,
        name: svc.name,
        vip: vipOf(job.namespace, svc.name),
        port: containerPort(group, svc),
        portLabel: svc.portLabel,
        tags: [...svc.tags],
        job: job.name,
        group: group.name,
        ingress: svc.ingress.map((r) => ({ ...r })),
        endpoints,
      });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * All services, one per namespace/name, sorted. A name declared by two jobs (the API
 * refuses that at submit, but the state may predate the check) goes to the job and group
 * first in name order, so every server and every request agree.
 */
export function mergeCatalog(perJob: Iterable<readonly CatalogService[]>, index: number): Catalog {
  const byKey = new Map<string, CatalogService>();
  for (const services of perJob) {
    for (const s of services) {
      const key = serviceKey(s.namespace, s.name);
      const held = byKey.get(key);
      if (!held || `${s.job}\0${s.group}` < `${held.job}\0${held.group}`) byKey.set(key, s);
    }
  }
  const services = [...byKey.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  return { index, services };
}

const hasServices = (job: Job | undefined): boolean => !!job && job.groups.some((g) => (g.services?.length ?? 0) > 0);

/**
 * The catalog as the API serves it, kept per job in memory and recomputed only for the
 * jobs a change touches (a job write, one of its allocations, a node it runs on, a VIP).
 * `index` is the store revision of the last *real* change to the derived catalog, so agents
 * parked on it do not wake for unrelated writes (an evaluation, a heartbeat's node update
 * that changes nothing here, a status report that changes no endpoint).
 */
export class ServiceCatalog {
  private readonly byJob = new Map<JobKey, { services: CatalogService[]; json: string }>();
  private readonly dirty = new Set<JobKey>();
  private readonly waiters = new Set<() => void>();
  private current = 0;
  private snapshot: Catalog | undefined;
  private started = false;
  private ready: Promise<void> = Promise.resolve();
  private flushHandle: ReturnType<typeof setImmediate> | undefined;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: { cache: StateCache; vips: ServiceVips; clock: Clock; logger: Logger }) {}

  /** Follows the read model; answers once the stored VIPs are loaded (so nobody sees them flap). */
  start(): void {
    const { cache, vips } = this.deps;
    // Subscribe before the first build (watch before read).
    this.unsubscribe.push(cache.subscribe((changes) => this.onChanges(changes)));
    this.unsubscribe.push(
      vips.onChange(() => {
        for (const key of this.byJob.keys()) this.dirty.add(key);
        this.scheduleFlush();
      }),
    );
    this.ready = vips.ready().then(() => {
      for (const job of cache.jobs()) if (hasServices(job)) this.dirty.add(jobKey(job.namespace, job.name));
      this.started = true;
      this.flush();
      // No agent can hold a newer index than the revision the catalog was built at. Never 0:
      // index 0 means "answer at once", so a follower handed 0 back would spin.
      this.current = Math.max(this.current, cache.revision, 1);
    });
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    if (this.flushHandle) clearImmediate(this.flushHandle);
    this.flushHandle = undefined;
    for (const w of [...this.waiters]) w();
  }

  /** The index of the catalog now (0 before the first build). */
  get index(): number {
    return this.current;
  }

  /** The whole catalog, up to date with the read model. */
  async catalog(): Promise<Catalog> {
    await this.ready;
    this.flush();
    return (this.snapshot ??= mergeCatalog(
      [...this.byJob.values()].map((e) => e.services),
      this.current,
    ));
  }

  /**
   * Blocking query: answers at once unless `index` is the catalog's index (0, older, or
   * newer than any this server gave out), else when the catalog changes, `waitMs` passes,
   * or `signal` aborts.
   */
  async waitFor(index: number, waitMs: number, signal?: AbortSignal): Promise<Catalog> {
    // Parks synchronously once started, so a wait's timer starts when the call is made.
    if (!this.started) await this.ready;
    this.flush();
    // An index other than the current one is older, or from another history (the server's
    // state was replaced): either way the caller's view is stale, so answer at once.
    if (index !== this.current || signal?.aborted) return this.catalog();
    await new Promise<void>((resolve) => {
      const done = () => {
        cancelTimer();
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const cancelTimer = this.deps.clock.setTimer(waitMs, done);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
    return this.catalog();
  }

  private onChanges(changes: StateChange[]): void {
    const { cache } = this.deps;
    const mark = (namespace: string, name: string) => {
      const key = jobKey(namespace, name);
      if (this.byJob.has(key) || hasServices(cache.job(namespace, name))) this.dirty.add(key);
    };
    for (const c of changes) {
      if (c.type === 'job') {
        const j = (c.after ?? c.before)!;
        if (hasServices(c.before) || hasServices(c.after)) this.dirty.add(jobKey(j.namespace, j.name));
      } else if (c.type === 'alloc') {
        for (const a of [c.before, c.after]) if (a) mark(a.namespace, a.jobName);
      } else if (c.type === 'node') {
        const { before, after } = c;
        if (before && after && before.status === after.status && before.address === after.address && before.name === after.name) continue;
        const id = (after ?? before)!.id;
        for (const a of cache.allocsByNode(id)) mark(a.namespace, a.jobName);
      }
    }
    if (this.dirty.size > 0) this.scheduleFlush();
  }

  /** Recomputes at the end of the tick, so a burst of batches costs one pass per job. */
  private scheduleFlush(): void {
    if (this.flushHandle || !this.started) return;
    this.flushHandle = setImmediate(() => {
      this.flushHandle = undefined;
      this.flush();
    });
  }

  private flush(): void {
    if (!this.started || this.dirty.size === 0) return;
    const { cache, vips } = this.deps;
    const vipOf = (ns: string, name: string) => vips.vipOf(ns, name);
    const nodeOf = (id: NodeId) => cache.node(id);
    let changed = false;
    for (const key of this.dirty) {
      const { namespace, name } = splitJobKey(key);
      const job = cache.job(namespace, name);
      const services = job ? jobCatalogServices(job, cache.allocsByJob(namespace, name), nodeOf, vipOf) : [];
      const json = JSON.stringify(services);
      const before = this.byJob.get(key);
      if ((before?.json ?? '[]') === json) continue;
      changed = true;
      if (services.length === 0) this.byJob.delete(key);
      else this.byJob.set(key, { services, json });
    }
    this.dirty.clear();
    if (!changed) return;
    this.current = Math.max(this.current + 1, cache.revision);
    this.snapshot = undefined;
    for (const w of [...this.waiters]) w();
  }
}
