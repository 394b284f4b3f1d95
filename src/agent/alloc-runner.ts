import type { AllocStatus, AllocView, ClientStatus, TaskState } from '../core/alloc.js';
import { isClientTerminal } from '../core/alloc.js';
import type { Group, JobType } from '../core/job.js';
import type { NodeId } from '../core/ids.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import type { Driver, RecoveredTask, TaskHandle } from '../driver/driver.js';
import type { DriverHealthTracker } from './driver-health.js';
import type { NodeIdentity } from './task-spec.js';
import { TaskRunner } from './task-runner.js';

export interface AllocRunnerOptions {
  alloc: AllocView;
  /** The group's spec at the allocation's job version. */
  group: Group;
  jobType: JobType;
  node: NodeIdentity;
  driver: Driver;
  health: DriverHealthTracker;
  clock: Clock;
  rng?: Rng;
  logger?: Logger;
  /** Called whenever the derived status changes (the agent's reporter batches them). */
  onStatus: (status: AllocStatus) => void;
}

/**
 * Runs every task of one allocation and derives its client status from theirs:
 * pending (not every task has started) → running → complete (all dead, none failed) or
 * failed (a task failed; the others are then stopped). A desired status of `stop` from
 * the server stops every task, and the allocation ends complete unless it had failed.
 */
export class AllocRunner {
  private allocNow: AllocView;
  private readonly tasks: TaskRunner[] = [];
  private readonly taskStates: Record<string, TaskState> = {};
  private lastReported = '';
  private launched = false;
  private stopping: Promise<void> | undefined;
  private stoppingSiblings = false;
  private stoppedAs: { clientStatus: ClientStatus; description: string } | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: AllocRunnerOptions) {
    this.allocNow = opts.alloc;
    this.log = (opts.logger ?? silentLogger()).child({ alloc: opts.alloc.id });
  }

  get id() {
    return this.allocNow.id;
  }

  get alloc(): AllocView {
    return this.allocNow;
  }

  /** The current derived status (what was, or is about to be, reported). */
  get status(): AllocStatus {
    return this.buildStatus();
  }

  /** The group's spec as last received with the allocation. */
  get group(): Group {
    return this.opts.group;
  }

  get taskNames(): string[] {
    return this.opts.group.tasks.map((t) => t.name);
  }

  /** The container of `task` (running, or the last it ran in), for logs. */
  taskHandle(task: string): TaskHandle | undefined {
    return this.tasks.find((t) => t.name === task)?.handle;
  }

  /** Starts every task in new containers. */
  start(): void {
    this.launch(new Map(), undefined);
  }

  /**
   * After an agent restart: reattaches to `recovered` containers instead of starting new
   * ones, carrying over restart counts and events from `last` (the status last reported,
   * as the server returned it). An allocation that was already terminal starts nothing.
   */
  restore(recovered: readonly RecoveredTask[], last: Pick<AllocStatus, 'clientStatus' | 'taskStates'> = this.allocNow): void {
    const byTask = new Map<string, RecoveredTask>();
    const extras: RecoveredTask[] = [];
    for (const r of recovered) {
      const seen = byTask.get(r.handle.labels.task);
      // Two containers for one task (an old one not yet removed): keep the running one.
      if (!seen) byTask.set(r.handle.labels.task, r);
      else if (r.running && !seen.running) {
        extras.push(seen);
        byTask.set(r.handle.labels.task, r);
      } else extras.push(r);
    }
    for (const r of extras) void this.opts.driver.destroy(r.handle).catch((e: unknown) => this.log.warn({ err: String(e) }, 'could not remove a duplicate container'));
    this.launch(byTask, last);
  }

  /** Applies the server's newest view of the allocation (a desired stop stops it). */
  update(alloc: AllocView): void {
    this.allocNow = alloc;
    if (alloc.desiredStatus === 'stop') void this.stop();
  }

  /**
   * Stops every task and removes its container. `as`: how to report the allocation once
   * every task is dead, when the agent (not the server) decided to stop it (cutoff.ts).
   */
  stop(as?: { clientStatus: ClientStatus; description: string }): Promise<void> {
    if (as !== undefined && this.stopping === undefined) this.stoppedAs = as;
    this.stopping ??= Promise.all(this.tasks.map((t) => t.stop())).then(() => this.emit());
    return this.stopping;
  }

  /** The agent is shutting down: end the runners and leave the containers running. */
  async detach(): Promise<void> {
    await Promise.all(this.tasks.map((t) => t.detach()));
  }

  /** The driver came back: every task looks at its container again. */
  reconcile(): void {
    for (const t of this.tasks) t.reconcile();
  }

  private launch(recovered: Map<string, RecoveredTask>, last: Pick<AllocStatus, 'clientStatus' | 'taskStates'> | undefined): void {
    if (this.launched) return;
    this.launched = true;
    const terminal = last !== undefined && isClientTerminal(last.clientStatus);
    for (const task of this.opts.group.tasks) {
      let previous = last?.taskStates[task.name];
      // A terminal allocation never runs again, even a task it has no record of.
      if (terminal && previous?.state !== 'dead') previous = { ...(previous ?? { restarts: 0, events: [] }), state: 'dead', failed: previous?.failed ?? false };
      const runner = new TaskRunner({
        alloc: this.allocNow,
        task,
        restart: this.opts.group.restart,
        jobType: this.opts.jobType,
        node: this.opts.node,
        driver: this.opts.driver,
        health: this.opts.health,
        clock: this.opts.clock,
        ...(this.opts.rng ? { rng: this.opts.rng } : {}),
        ...(this.opts.logger ? { logger: this.opts.logger } : {}),
        onChange: (s) => this.onTaskChange(task.name, s),
        ...(previous ? { previous } : {}),
        ...(recovered.get(task.name) ? { recovered: recovered.get(task.name)! } : {}),
      });
      this.tasks.push(runner);
      this.taskStates[task.name] = runner.state;
    }
    if (this.allocNow.desiredStatus === 'stop') {
      void this.stop();
      return;
    }
    for (const t of this.tasks) t.run();
    this.emit();
  }

  private onTaskChange(task: string, state: TaskState): void {
    this.taskStates[task] = state;
    if (state.failed && !this.stoppingSiblings && !this.stopping) {
      // One task failed for good: the allocation has failed, so the others stop too.
      this.stoppingSiblings = true;
      this.log.info({ task }, 'task failed; stopping the other tasks of the allocation');
      for (const t of this.tasks) if (t.name !== task) void t.stop();
    }
    this.emit();
  }

  private emit(): void {
    if (!this.launched) return;
    const status = this.buildStatus();
    const { updatedAt: _ignored, ...comparable } = status;
    const key = JSON.stringify(comparable);
    if (key === this.lastReported) return;
    this.lastReported = key;
    this.opts.onStatus(status);
  }

  private buildStatus(): AllocStatus {
    const states = this.opts.group.tasks.map((t) => [t.name, this.taskStates[t.name]] as const);
    let { clientStatus, description } = deriveClientStatus(states, this.stopping !== undefined);
    if (this.stoppedAs !== undefined && clientStatus === 'complete') ({ clientStatus, description } = this.stoppedAs);
    const taskStates: Record<string, TaskState> = {};
    for (const [name, s] of states) if (s) taskStates[name] = structuredClone(s);
    return {
      id: this.allocNow.id,
      nodeId: this.opts.node.id as NodeId,
      clientStatus,
      clientDescription: description,
      taskStates,
      updatedAt: this.opts.clock.now(),
    };
  }
}

/**
 * The allocation's client status from its tasks': failed if any failed; complete once all
 * are dead; running once every task has started (a task between restarts still counts);
 * pending before that.
 */
export function deriveClientStatus(
  states: readonly (readonly [string, TaskState | undefined])[],
  stopped: boolean,
): { clientStatus: ClientStatus; description: string } {
  const failed = states.filter(([, s]) => s?.failed).map(([n]) => n);
  if (failed.length) return { clientStatus: 'failed', description: `Failed: task ${failed.map((n) => `'${n}'`).join(', ')} failed` };
  if (states.every(([, s]) => s?.state === 'dead')) {
    return { clientStatus: 'complete', description: stopped ? 'Stopped by the server' : 'All tasks have completed' };
  }
  if (states.every(([, s]) => s && (s.state === 'running' || s.state === 'dead' || s.startedAt !== undefined))) {
    return { clientStatus: 'running', description: 'Tasks are running' };
  }
  return { clientStatus: 'pending', description: 'Tasks are starting' };
}
