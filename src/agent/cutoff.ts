import type { ClientStatus } from '../core/alloc.js';
import { disconnectPolicy } from '../core/disconnect.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { AllocRunner } from './alloc-runner.js';

/** How the agent describes an allocation it stopped on its own. */
export const CUT_OFF_STATUS = (afterMs: number): { clientStatus: ClientStatus; description: string } => ({
  clientStatus: 'lost',
  description: `Stopped by the agent: cut off from the server for ${Math.round(afterMs / 1000)}s (disconnect.stopOnClientAfter)`,
});

/**
 * The agent's side of the disconnect policy. Cut off from the server, the agent keeps
 * every allocation running (and restarting) as it was last told, except those whose
 * group says `disconnect.stopOnClientAfter`: once the server has not answered for that
 * long, they are stopped and reported `lost` when the server is back, because the server
 * has by then most likely replaced them elsewhere. It uses the group spec it last
 * received with each allocation; contact is any successful call to the server.
 */
export class CutoffGuard {
  private lastContact: number;
  private cancel: (() => void) | undefined;
  private readonly stopped = new WeakSet<AllocRunner>();

  constructor(
    private readonly deps: { clock: Clock; logger: Logger; runners: () => Iterable<AllocRunner>; checkEveryMs?: number },
  ) {
    this.lastContact = deps.clock.now();
  }

  /** The server answered. */
  contact(): void {
    this.lastContact = this.deps.clock.now();
  }

  /** How long since the server last answered. */
  get cutOffForMs(): number {
    return this.deps.clock.now() - this.lastContact;
  }

  start(): void {
    const every = this.deps.checkEveryMs ?? 1_000;
    const loop = () => {
      this.cancel = this.deps.clock.setTimer(every, () => {
        this.check();
        if (this.cancel) loop();
      });
    };
    this.lastContact = this.deps.clock.now();
    loop();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  /** Stops the allocations whose groups' stopOnClientAfter has passed. */
  check(): void {
    const cutOff = this.cutOffForMs;
    for (const r of this.deps.runners()) {
      const after = disconnectPolicy(r.group).stopOnClientAfterMs;
      if (after === null || cutOff < after || this.stopped.has(r) || r.alloc.desiredStatus !== 'run') continue;
      this.stopped.add(r);
      this.deps.logger.warn({ alloc: r.id, cutOffMs: cutOff }, 'cut off from the server too long: stopping the allocation (disconnect.stopOnClientAfter)');
      void r.stop(CUT_OFF_STATUS(after));
    }
  }
}
