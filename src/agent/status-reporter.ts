import type { AllocStatus } from '../core/alloc.js';
import type { AllocId } from '../core/ids.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';

export interface StatusReporterOptions {
  /** Sends one batch (KaruClient.updateAllocStatus for this node). */
  send: (updates: AllocStatus[]) => Promise<void>;
  clock: Clock;
  rng?: Rng;
  logger?: Logger;
  /** How long later reports gather before a batch goes out. Default 100 ms. */
  batchMs?: number;
}

/**
 * Sends what the alloc runners observed to the server in batches. Reports for one
 * allocation coalesce (only the newest is sent); an allocation's first report and every
 * change of its client status or of a service's health (`checks[name].healthy`) go out at
 * once, other updates within `batchMs`. A failed send is retried with backoff, and a
 * newer status that arrived meanwhile is never overwritten by the older one.
 */
export class StatusReporter {
  private readonly pending = new Map<AllocId, AllocStatus>();
  /** The client status and service health last queued per allocation (`newsKey`): a change of it is news worth sending now. */
  private readonly seen = new Map<AllocId, string>();
  private inFlight: Promise<void> | undefined;
  private cancelTimer: (() => void) | undefined;
  private timerAt = Infinity;
  private failures = 0;
  private closed = false;
  private readonly log: Logger;
  private readonly batchMs: number;

  constructor(private readonly opts: StatusReporterOptions) {
    this.log = opts.logger ?? silentLogger();
    this.batchMs = opts.batchMs ?? 100;
  }

  /** Statuses waiting to be sent (tests and shutdown look at this). */
  get backlog(): number {
    return this.pending.size;
  }

  report(status: AllocStatus): void {
    if (this.closed) return;
    this.pending.set(status.id, status);
    // An allocation's first report and each change of its client status (running, failed…)
    // or of a service's health go out at once: deploys and the scheduler wait on the first,
    // the catalog on the second (a failing endpoint leaves rotation within one check
    // interval). Task-event chatter and check output under unchanged health are batched.
    const key = newsKey(status);
    if (this.seen.get(status.id) !== key) {
      this.seen.set(status.id, key);
      if (this.failures === 0) {
        queueMicrotask(() => void this.flush());
        return;
      }
    }
    this.schedule(this.failures ? this.retryDelay() : this.batchMs);
  }

  /** Stops tracking an allocation the server no longer has. */
  forget(id: AllocId): void {
    this.pending.delete(id);
    this.seen.delete(id);
  }

  /** Sends whatever is pending now; resolves when that attempt ends (successful or not). */
  async flush(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    if (this.pending.size === 0 || this.closed) return;
    this.clearTimer();
    const batch = [...this.pending.values()];
    this.pending.clear();
    this.inFlight = (async () => {
      try {
        await this.opts.send(batch);
        this.failures = 0;
      } catch (e) {
        this.failures++;
        this.log.warn({ err: e instanceof Error ? e.message : String(e), count: batch.length }, 'could not report allocation status; will retry');
        // Put back what was not superseded while the send was out.
        for (const s of batch) if (!this.pending.has(s.id)) this.pending.set(s.id, s);
      } finally {
        this.inFlight = undefined;
      }
      if (this.pending.size) this.schedule(this.failures ? this.retryDelay() : this.batchMs);
    })();
    return this.inFlight;
  }

  /** Drops pending reports and timers; nothing is sent after this. */
  close(): void {
    this.closed = true;
    this.clearTimer();
    this.pending.clear();
  }

  private retryDelay(): number {
    return backoffDelay(this.failures - 1, this.opts.rng, { baseMs: 500, maxMs: 10_000 });
  }

  private schedule(ms: number): void {
    if (this.closed || this.inFlight) return; // the in-flight send reschedules when it ends
    const at = this.opts.clock.now() + ms;
    if (this.cancelTimer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.cancelTimer = this.opts.clock.setTimer(ms, () => {
      this.cancelTimer = undefined;
      this.timerAt = Infinity;
      void this.flush();
    });
  }

  private clearTimer(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.timerAt = Infinity;
  }
}

/** What makes a report news: its client status and each service's healthy flag. */
function newsKey(status: AllocStatus): string {
  if (!status.checks) return status.clientStatus;
  const names = Object.keys(status.checks).sort();
  return `${status.clientStatus}|${names.map((n) => `${n}=${status.checks?.[n]?.healthy ? 1 : 0}`).join(',')}`;
}
