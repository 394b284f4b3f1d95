import type { Clock } from '../lib/clock.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Rng } from '../lib/rng.js';
import type { Logger } from '../lib/logger.js';

/** What a reconcile returns: nothing (done) or a wish to look again later. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/**
 * A de-duplicating work queue in the Kubernetes style: keys, not events. A key added
 * several times before it is processed is processed once; a key is never handed to two
 * workers at once; a key added while it is being processed is processed again after.
 * A thrown error requeues the key with exponential backoff (unless not retryable).
 */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
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
    private readonly deps: { clock: Clock; rng: Rng; logger: Logger; workers?: number },
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
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
    return this.queue.length;
  }

  /** Resolves when nothing is queued or running (timers aside): for tests and shutdown. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0 && !this.pumpScheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    const workers = this.deps.workers ?? 1;
    while (!this.stopped && this.active < workers && this.queue.length > 0) {
      const key = this.queue.shift()!;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.process(key);
    }
    if (this.queue.length === 0 && this.active === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
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
