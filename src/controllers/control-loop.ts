import { jobKey, type JobKey } from '../core/ids.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { seededRng } from '../lib/rng.js';
import type { StateCache, StateStore } from '../store/state.js';
import { BlockedEvals } from './blocked-evals.js';
import { ServiceCatalog } from './catalog.js';
import { ServiceVips, type ServiceVipsOptions } from './catalog-vips.js';
import { Cluster } from './cluster.js';
import { Drainer, type DrainerOptions } from './drainer.js';
import { GarbageCollector, type GcOptions } from './gc.js';
import { NodeMonitor, type NodeMonitorOptions } from './node-monitor.js';
import { PlanApplier } from './plan-applier.js';
import { SchedulerWorker } from './scheduler-worker.js';
import { WorkQueue } from './work-queue.js';

export interface ControllersOptions {
  nodeMonitor?: NodeMonitorOptions;
  gc?: GcOptions;
  /** Evaluations scheduled at once (each job is only ever in one). Default 2. */
  schedulerWorkers?: number;
  drainer?: DrainerOptions;
  /** The service catalog's VIP range. */
  catalog?: ServiceVipsOptions;
}

/**
 * The leader's loops, started together: the scheduler worker fed by pending
 * evaluations, the node monitor, blocked-evaluation retries and garbage collection.
 * They meet only in the store (and its read model); none calls another.
 */
export class Controllers {
  readonly cluster: Cluster;
  readonly monitor: NodeMonitor;
  readonly queue: WorkQueue;
  readonly blocked: BlockedEvals;
  readonly gc: GarbageCollector;
  /** Carries out drains and rebalances (drainer.ts). */
  readonly drainer: Drainer;
  /** Stable service VIPs (catalog-vips.ts) and the derived catalog agents follow (catalog.ts). */
  readonly vips: ServiceVips;
  readonly catalog: ServiceCatalog;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger; serverToken: string },
    opts: ControllersOptions = {},
  ) {
    const base = { stateStore: deps.stateStore, cache: deps.cache, clock: deps.clock, logger: deps.logger };
    this.monitor = new NodeMonitor(base, opts.nodeMonitor);
    this.vips = new ServiceVips(base, opts.catalog);
    this.catalog = new ServiceCatalog({ cache: deps.cache, vips: this.vips, clock: deps.clock, logger: deps.logger });
    this.cluster = new Cluster({ ...base, monitor: this.monitor, serverToken: deps.serverToken, catalog: this.catalog, serviceCidr: this.vips.range.cidr });
    const applier = new PlanApplier(base);
    const worker = new SchedulerWorker({ cache: deps.cache, stateStore: deps.stateStore, applier, clock: deps.clock, logger: deps.logger });
    this.queue = new WorkQueue('scheduler', (key) => worker.reconcile(key as JobKey), {
      clock: deps.clock,
      rng: seededRng('scheduler-queue'),
      logger: deps.logger,
      workers: opts.schedulerWorkers ?? 2,
      // Higher-priority jobs' evaluations are scheduled first (issue 5).
      priorityOf: (key) => worker.priorityOf(key as JobKey),
    });
    this.blocked = new BlockedEvals(base);
    this.gc = new GarbageCollector(base, opts.gc);
    this.drainer = new Drainer(base, opts.drainer);
  }

  start(): void {
    const { cache } = this.deps;
    // Subscribe before the initial scan, so an evaluation written in between is not missed.
    this.unsubscribe = cache.subscribe((changes) => {
      for (const c of changes) {
        if (c.type === 'eval' && c.after?.status === 'pending') this.queue.add(jobKey(c.after.namespace, c.after.jobName));
      }
    });
    for (const e of cache.evals()) if (e.status === 'pending') this.queue.add(jobKey(e.namespace, e.jobName));
    this.monitor.start();
    this.blocked.start();
    this.gc.start();
    this.drainer.start();
    void this.vips.start();
    this.catalog.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.monitor.stop();
    this.blocked.stop();
    this.gc.stop();
    this.drainer.stop();
    this.catalog.stop();
    this.vips.stop();
    await this.vips.idle();
    await this.drainer.idle();
    await this.monitor.idle();
    this.queue.stop();
    await this.queue.idle();
    this.cluster.close();
  }
}
