import { isClientTerminal } from '../core/alloc.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateDelete, StateStore } from '../store/state.js';

export interface GcOptions {
  /** How long terminal allocations and finished evaluations are kept. Default 1 h. */
  retainMs?: number;
  /** Finished evaluations kept per job regardless of age. Default 5. */
  keepEvalsPerJob?: number;
  /** How often to collect. Default 60 s. */
  intervalMs?: number;
}

/**
 * Forgets what is over: terminal allocations that are not meant to run (after
 * `retainMs`, or at once when their job was purged) and old finished evaluations,
 * so the state stays proportional to what runs rather than to history.
 */
export class GarbageCollector {
  private cancel: (() => void) | undefined;
  private readonly opts: Required<GcOptions>;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    opts: GcOptions = {},
  ) {
    this.opts = { retainMs: opts.retainMs ?? 3_600_000, keepEvalsPerJob: opts.keepEvalsPerJob ?? 5, intervalMs: opts.intervalMs ?? 60_000 };
  }

  start(): void {
    const loop = () => {
      this.cancel = this.deps.clock.setTimer(this.opts.intervalMs, () => {
        void this.collect()
          .catch((err) => this.deps.logger.warn({ err }, 'garbage collection failed'))
          .finally(() => {
            if (this.cancel) loop();
          });
      });
    };
    loop();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  async collect(): Promise<number> {
    const { cache, clock } = this.deps;
    const now = clock.now();
    const deletes: StateDelete[] = [];
    for (const a of cache.allocs()) {
      if (a.desiredStatus !== 'stop' || !isClientTerminal(a.clientStatus)) continue;
      const purged = !cache.job(a.namespace, a.jobName);
      if (purged || now - a.modifiedAt > this.opts.retainMs) {
        deletes.push({ kind: 'alloc', id: a.id }, { kind: 'allocStatus', id: a.id });
      }
    }
    const byJob = new Map<string, typeof finished>();
    const finished = cache.evals().filter((e) => e.status === 'complete' || e.status === 'cancelled' || e.status === 'failed');
    for (const e of finished) {
      const k = `${e.namespace}/${e.jobName}`;
      byJob.set(k, [...(byJob.get(k) ?? []), e]);
    }
    for (const [, evals] of byJob) {
      evals.sort((a, b) => b.modifiedAt - a.modifiedAt);
      const purged = !cache.job(evals[0]!.namespace, evals[0]!.jobName);
      evals.forEach((e, i) => {
        if (purged || (i >= this.opts.keepEvalsPerJob && now - e.modifiedAt > this.opts.retainMs)) deletes.push({ kind: 'eval', id: e.id });
      });
    }
    if (deletes.length === 0) return 0;
    // Bounded batches keep each transaction short.
    for (let i = 0; i < deletes.length; i += 500) await this.deps.stateStore.commit([], deletes.slice(i, i + 500));
    this.deps.logger.debug({ deleted: deletes.length }, 'garbage collected');
    return deletes.length;
  }
}
