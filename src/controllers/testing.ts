import { FakeClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache } from '../store/index.js';
import type { Store } from '../store/store.js';
import type { StateCache } from '../store/state.js';
import { Controllers, type ControllersOptions } from './control-loop.js';
import type { NodeRegistration } from './control-plane.js';

/** A node registration for tests: 4 cores, 8 GB, docker healthy. */
export function aRegistration(overrides: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    name: 'n1',
    address: '127.0.0.1',
    agentUrl: 'http://127.0.0.1:1',
    resources: { cpuMhz: 4000, memoryMb: 8192 },
    attributes: { 'os.name': 'linux', 'cpu.cores': '4' },
    labels: {},
    drivers: { docker: { healthy: true, detail: 'ok' } },
    ...overrides,
  };
}

/**
 * The controllers on a real (in-memory SQLite) store with a fake clock, for tests of the
 * control plane's loops working together. `restart()` is a server restart: new read model
 * and controllers over the same store.
 */
export class ControllerHarness {
  readonly clock = new FakeClock();
  store!: Store;
  cache!: StateCache & { close(): void };
  ctl!: Controllers;

  constructor(private readonly opts: ControllersOptions = {}) {}

  async start(): Promise<this> {
    this.store = openSqliteStore({ path: ':memory:', clock: this.clock });
    await this.boot();
    return this;
  }

  async restart(): Promise<void> {
    await this.shutdown();
    await this.boot();
  }

  async stop(): Promise<void> {
    await this.shutdown();
    await this.store.close();
  }

  /** Lets the queue, the watch, the drainer and timers due within `advanceMs` per round run until nothing moves. */
  async settle(advanceMs: number): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r));
      this.clock.advance(advanceMs);
      await this.ctl.queue.idle();
      await this.ctl.drainer.idle();
    }
  }

  private async boot(): Promise<void> {
    this.cache = await openStateCache(this.store);
    this.ctl = new Controllers({ stateStore: createStateStore(this.store), cache: this.cache, clock: this.clock, logger: silentLogger(), serverToken: 't' }, this.opts);
    this.ctl.start();
  }

  private async shutdown(): Promise<void> {
    await this.ctl.stop();
    this.cache.close();
  }
}
