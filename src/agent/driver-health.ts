/**
 * What the agent last heard about its driver's health (engine up or down), shared by
 * the heartbeat (reports it) and the task runners (wait on it before retrying).
 */
export class DriverHealthTracker {
  private current: { healthy: boolean; detail: string };
  private readonly listeners = new Set<(healthy: boolean, detail: string) => void>();
  private readonly healthyWaiters = new Set<() => void>();

  constructor(healthy = true, detail = '') {
    this.current = { healthy, detail };
  }

  get healthy(): boolean {
    return this.current.healthy;
  }

  get detail(): string {
    return this.current.detail;
  }

  /** Records a health report; returns true when it changed whether the driver is healthy. */
  set(healthy: boolean, detail: string): boolean {
    const changed = healthy !== this.current.healthy;
    this.current = { healthy, detail };
    if (changed) {
      for (const l of [...this.listeners]) l(healthy, detail);
      if (healthy) {
        const waiters = [...this.healthyWaiters];
        this.healthyWaiters.clear();
        for (const w of waiters) w();
      }
    }
    return changed;
  }

  /** Called on every change of `healthy`; returns an unsubscribe function. */
  onChange(listener: (healthy: boolean, detail: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves the next time the driver turns healthy (not immediately, even if it is). */
  nextHealthy(): { promise: Promise<void>; cancel: () => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.healthyWaiters.add(resolve);
    return { promise, cancel: () => this.healthyWaiters.delete(resolve) };
  }
}
