import type { Clock } from '../lib/clock.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Rng } from '../lib/rng.js';
import type { Logger } from '../lib/logger.js';

/** What a reconcile returns: nothing (done) or a wish to look again later. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** One queued key. Stale once the key was re-queued at a higher priority (skipped when popped). */
interface Entry {
  key: string;
  priority: number;
  seq: number;
  stale: boolean;
}

/**
 * A de-duplicating work queue in the Kubernetes style: keys, not events. A key added
 * several times before it is processed is processed once; a key is never handed to two
 * workers at once; a key added while it is being processed is processed again after.
 * A thrown error requeues the key with exponential backoff (unless not retryable).
 *
 * Keys are handed out highest priority first, first come first served among equals
 * (`deps.priorityOf`, read when a key is added; default 0 for every key, i.e. FIFO). A key
 * added again while queued keeps one place, moved up if its priority rose.
 */
export class WorkQueue {
  /** Binary max-heap on (priority, then lower seq). */
  private readonly heap: Entry[] = [];
  private readonly queued = new Map<string, Entry>();
  private seq = 0;
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, () => void>();
  private active = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly name: string,
    private readonly reconcile: Reconciler,
    private readonly deps: {
      clock: Clock;
      rng: Rng;
      logger: Logger;
      workers?: number;
      /** A key's priority when added: higher is handed out first. Default: 0 for all (FIFO). */
      priorityOf?: (key: string) => number;
    },
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    const priority = this.deps.priorityOf?.(key) ?? 0;
    const queued = this.queued.get(key);
    if (queued !== undefined) {
      if (priority <= queued.priority) return;
      // Moved up: the old entry stays in the heap, skipped when it comes out.
      queued.stale = true;
    }
    const e: Entry = { key, priority, seq: queued?.seq ?? this.seq++, stale: false };
    this.queued.set(key, e);
    this.push(e);
    this.schedulePump();
  }

  private pumpScheduled = false;

  /** Pumps on the next microtask, so a burst of adds in one tick is seen as one. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Adds `key` after `ms` (a later add replaces an earlier pending one). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.timers.get(key)?.();
    const cancel = this.deps.clock.setTimer(ms, () => {
      this.timers.delete(key);
      this.add(key);
    });
    this.timers.set(key, cancel);
  }

  get length(): number {
    return this.queued.size;
  }

  /** Resolves when nothing is queued or running (timers aside): for tests and shutdown. */
  idle(): Promise<void> {
    if (this.queued.size === 0 && this.active === 0 && !this.pumpScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.heap.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    const workers = this.deps.workers ?? 1;
    while (!this.stopped && this.active < workers && this.queued.size > 0) {
      const e = this.pop()!;
      if (e.stale) continue;
      const key = e.key;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.process(key);
    }
    if (this.queued.size === 0 && this.active === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** a before b: higher priority, then added earlier. */
  private static before(a: Entry, b: Entry): boolean {
    return a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!WorkQueue.before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && WorkQueue.before(h[l]!, h[m]!)) m = l;
        if (r < h.length && WorkQueue.before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private async process(key: string): Promise<void> {
    try {
      const result = await this.reconcile(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      const retryable = (err as { retryable?: boolean }).retryable !== false;
      const attempt = this.failures.get(key) ?? 0;
      this.failures.set(key, attempt + 1);
      const delay = backoffDelay(attempt, this.deps.rng, { baseMs: 50, maxMs: 10_000 });
      this.deps.logger.warn({ err, key, queue: this.name, attempt, retryable }, 'reconcile failed');
      if (retryable) this.addAfter(key, delay);
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }
}
