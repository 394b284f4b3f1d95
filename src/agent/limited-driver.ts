import type { Driver, TaskHandle, TaskSpec } from '../driver/driver.js';
import { Semaphore } from '../lib/semaphore.js';

/**
 * The driver with at most `limit` starts in flight. A burst of placements (100 replicas)
 * would otherwise send 100 create+start calls at once, and the engine is slowest at that:
 * it does best at 4–8 in parallel (see bench/README.md).
 */
export function limitConcurrentStarts(driver: Driver, limit: number): Driver {
  const sem = new Semaphore(limit);
  return new Proxy(driver, {
    get(target, prop, receiver) {
      if (prop === 'start') return (spec: TaskSpec): Promise<TaskHandle> => sem.run(() => target.start(spec));
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
