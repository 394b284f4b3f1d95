import type { TaskState } from '../core/alloc.js';
import type { RestartPolicy, Task } from '../core/job.js';
import { PAUSE_TASK } from '../core/service.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import type { Driver, RecoveredTask, TaskHandle } from '../driver/driver.js';
import type { DriverHealthTracker } from './driver-health.js';
import { TaskRunner, type PodNetwork, type TaskRunnerOptions } from './task-runner.js';
import { buildPauseSpec, type NodeIdentity } from './task-spec.js';

/** The pause container as the TaskRunner sees it: no resources of its own, a quick stop. */
const PAUSE_AS_TASK: Task = {
  name: PAUSE_TASK,
  image: 'karu/pause',
  args: [],
  env: {},
  resources: { cpuMhz: 0, memoryMb: 0 },
  ports: [],
  killTimeoutMs: 5_000,
};

export interface PodOptions {
  alloc: TaskRunnerOptions['alloc'];
  node: NodeIdentity;
  /** The group's: a pause container that keeps dying fails the allocation like a task would. */
  restart: RestartPolicy;
  driver: Driver;
  health: DriverHealthTracker;
  clock: Clock;
  rng?: Rng;
  logger?: Logger;
  /** The pause container `driver.recover()` found after an agent restart. */
  recovered?: RecoveredTask;
  /** Called after every change of the pause container's state. */
  onChange: () => void;
}

/**
 * A pod's network: the pause container that holds the namespace, the published ports and
 * the DNS config of every task of the allocation (docs/design/networking.md §1). It runs
 * in a TaskRunner of its own (start retries, reattach, engine outages, stop are the same
 * as a task's), restarted on any exit under the group's restart policy. Its state is not
 * reported among the allocation's tasks; `failure` says when it gave up.
 *
 * When the pause container is replaced, every task is told (`networkChanged`) and the
 * TaskRunners restart those still in the old namespace; starts wait for `ready()`.
 */
export class Pod implements PodNetwork {
  readonly recoveredPauseId: string | undefined;
  private readonly runner: TaskRunner;
  private readonly log: Logger;
  private readonly listeners: (() => void)[] = [];
  private current: TaskState | undefined;
  private runningId: string | undefined;
  private waiters: (() => void)[] = [];

  constructor(private readonly opts: PodOptions) {
    this.recoveredPauseId = opts.recovered?.handle.id;
    this.log = (opts.logger ?? silentLogger()).child({ alloc: opts.alloc.id, task: PAUSE_TASK });
    this.runner = new TaskRunner({
      alloc: opts.alloc,
      task: PAUSE_AS_TASK,
      restart: opts.restart,
      // Any exit of the pause container is a loss: always restart (within the policy).
      jobType: 'service',
      node: opts.node,
      driver: opts.driver,
      health: opts.health,
      clock: opts.clock,
      ...(opts.rng ? { rng: opts.rng } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      spec: buildPauseSpec(opts.alloc, opts.node),
      ...(opts.recovered ? { recovered: opts.recovered } : {}),
      onChange: (s) => this.onPauseChange(s),
    });
  }

  // ---- PodNetwork

  pauseId(): string | undefined {
    return this.runningId;
  }

  ready(): Promise<void> {
    if (this.runningId !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  // ---- for the AllocRunner

  /** Called whenever the pause container running changes (the tasks' TaskRunner.networkChanged). */
  onNetworkChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Why the pod's network is gone for good, once the restart policy gave up on it. */
  get failure(): string | undefined {
    const s = this.current;
    if (!s?.failed) return undefined;
    const reasons = s.events.filter((e) => e.type === 'terminated' || e.type === 'driver-failure' || e.type === 'not-restarting').slice(-2);
    return reasons.map((e) => e.message).join('; ') || 'the pause container failed';
  }

  /** The pause container (for tests and diagnostics). */
  get handle(): TaskHandle | undefined {
    return this.runner.handle;
  }

  /** Starts (or reattaches to) the pause container. */
  run(): void {
    this.runner.run();
  }

  /** Stops and removes the pause container (the tasks must be gone first: they share its namespace). */
  stop(): Promise<void> {
    return this.runner.stop();
  }

  detach(): Promise<void> {
    return this.runner.detach();
  }

  reconcile(): void {
    this.runner.reconcile();
  }

  private onPauseChange(s: TaskState): void {
    const before = this.current?.state;
    this.current = s;
    if (s.state !== before) this.log.info({ state: s.state, failed: s.failed, container: s.containerId }, 'pause container changed state');
    const id = s.state === 'running' ? s.containerId : undefined;
    if (id !== this.runningId) {
      this.runningId = id;
      if (id !== undefined) for (const w of this.waiters.splice(0)) w();
      for (const l of this.listeners) l();
    }
    this.opts.onChange();
  }
}
