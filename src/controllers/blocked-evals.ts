import { isClientTerminal } from '../core/alloc.js';
import { isSchedulable } from '../core/node.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateChange, StateStore } from '../store/state.js';

/**
 * Retries blocked evaluations when capacity may have appeared: a node became
 * schedulable or changed its resources, or an allocation stopped holding resources.
 * Changes are coalesced over `debounceMs`, so a burst of exits causes one retry.
 */
export class BlockedEvals {
  private cancelTimer: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    private readonly debounceMs = 100,
  ) {}

  start(): void {
    this.unsubscribe = this.deps.cache.subscribe((changes) => {
      if (changes.some(freesCapacity)) this.schedule();
    });
    // Capacity may have changed while no server was watching.
    this.schedule();
  }

  stop(): void {
    this.unsubscribe?.();
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private schedule(): void {
    if (this.cancelTimer) return;
    this.cancelTimer = this.deps.clock.setTimer(this.debounceMs, () => {
      this.cancelTimer = undefined;
      void this.unblock().catch((err) => this.deps.logger.warn({ err }, 'retrying blocked evaluations failed'));
    });
  }

  /** Moves every blocked evaluation back to pending. Exposed for tests. */
  async unblock(): Promise<number> {
    const now = this.deps.clock.now();
    const blocked = this.deps.cache.evals().filter((e) => e.status === 'blocked');
    if (blocked.length === 0) return 0;
    await this.deps.stateStore.commit(
      blocked.map((e) => ({ kind: 'eval' as const, value: { ...e, status: 'pending' as const, statusDescription: 'retrying: capacity changed', modifiedAt: now } })),
    );
    return blocked.length;
  }
}

function freesCapacity(change: StateChange): boolean {
  switch (change.type) {
    case 'node': {
      const { before, after } = change;
      if (!after || !isSchedulable(after)) return false;
      if (!before || !isSchedulable(before)) return true;
      return (
        after.resources.cpuMhz !== before.resources.cpuMhz ||
        after.resources.memoryMb !== before.resources.memoryMb ||
        JSON.stringify(after.labels) !== JSON.stringify(before.labels) ||
        JSON.stringify(after.drivers) !== JSON.stringify(before.drivers)
      );
    }
    case 'alloc': {
      const { before, after } = change;
      if (!before) return false;
      if (!after) return true;
      return (!isClientTerminal(before.clientStatus) && isClientTerminal(after.clientStatus)) || (before.desiredStatus === 'run' && after.desiredStatus === 'stop');
    }
    case 'job':
      // A stopped or purged job frees what it held once its allocations stop (seen as alloc changes).
      return false;
    default:
      return false;
  }
}
