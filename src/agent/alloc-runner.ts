import type { AllocStatus, AllocView, ClientStatus, TaskState } from '../core/alloc.js';
import { isClientTerminal } from '../core/alloc.js';
import type { Group, JobType, TaskLifecycle } from '../core/job.js';
import { isPod } from '../core/job.js';
import type { NodeId } from '../core/ids.js';
import { PAUSE_TASK } from '../core/service.js';
import { backoffDelay } from '../lib/backoff.js';
import { sleep, type Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import type { Driver, RecoveredTask, TaskHandle } from '../driver/driver.js';
import { AllocChecks } from './checks/alloc-checks.js';
import type { DriverHealthTracker } from './driver-health.js';
import { describeTask, restartJobType, taskRole, type TaskRole } from './lifecycle.js';
import { Pod } from './pod.js';
import { formatDuration } from './restart-policy.js';
import { volumeName, type NodeIdentity } from './task-spec.js';
import { TaskRunner } from './task-runner.js';

/**
 * How long poststop hooks may run, all together, before they are killed and the stop goes
 * on. Fixed rather than the task's killTimeout (seconds, meant for a graceful exit): a
 * hook's real work (flushing, uploading) may take minutes, but never forever.
 */
export const POSTSTOP_DEADLINE_MS = 5 * 60_000;

/** Removing a volume: a few tries (it may still be "in use" for a moment after its last container went). */
const VOLUME_RETRY = { baseMs: 1_000, maxMs: 30_000, attempts: 8 } as const;

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

/** One task of the allocation with its runner. */
interface Member {
  name: string;
  role: TaskRole;
  runner: TaskRunner;
}

/**
 * Runs one allocation: its pod's network, its tasks in lifecycle order, its checks and
 * volumes, and derives its client status from its tasks' (deriveClientStatus).
 *
 * Order (a level-based `advance()` after every change; docs/design/agent.md):
 * 1. a pod (more than one task) first gets its pause container, which every task joins;
 * 2. prestart hooks and sidecars start; hooks must complete (exit 0) and sidecars run
 *    before 3. the main tasks start; checks start once every main task runs;
 * 4. a batch allocation whose main tasks completed: sidecars are halted (containers kept
 *    for their logs), poststop hooks run to completion, the pause container goes.
 * A stop (desired by the server, or decided by the agent: cutoff.ts) tears it down: main
 * tasks and hooks, then sidecars, then poststop hooks run to completion (if the main tasks
 * had been started), then the pause container, then the volumes. A task failing for good
 * fails the allocation: the others are stopped and the pause container removed.
 */
export class AllocRunner {
  private allocNow: AllocView;
  private readonly members: Member[] = [];
  private readonly taskStates: Record<string, TaskState> = {};
  private pod: Pod | undefined;
  private checks: AllocChecks | undefined;
  private checksStarted = false;
  private lastReported = '';
  private launched = false;
  private mainLaunched = false;
  private poststopLaunched = false;
  /** Set once the pod's pause container is gone (complete is held until then: it holds the ports). */
  private podReleased = false;
  /** The allocation is ending on its own (failed, or its batch work done): no more starts. */
  private ending: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private detached = false;
  private readonly detachAbort = new AbortController();
  private stoppedAs: { clientStatus: ClientStatus; description: string } | undefined;
  private advancing = false;
  private advanceAgain = false;
  private changed = deferred();
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
    return this.members.find((m) => m.name === task)?.runner.handle;
  }

  /** The pod's pause container (running, or the last one), when the group is a pod. */
  get pauseHandle(): TaskHandle | undefined {
    return this.pod?.handle;
  }

  /** Starts every task in new containers. */
  start(): void {
    this.launch(new Map(), undefined, undefined);
  }

  /**
   * After an agent restart: reattaches to `recovered` containers instead of starting new
   * ones, carrying over restart counts and events from `last` (the status last reported,
   * as the server returned it). A recovered pause container is reattached, so running
   * tasks keep their namespace. An allocation that was already terminal starts nothing.
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
    const pause = byTask.get(PAUSE_TASK);
    byTask.delete(PAUSE_TASK);
    // A pause container of a group that is no pod holds nothing anybody needs.
    if (pause && !isPod(this.opts.group)) extras.push(pause);
    for (const r of extras) void this.opts.driver.destroy(r.handle).catch((e: unknown) => this.log.warn({ err: String(e) }, 'could not remove a duplicate container'));
    this.launch(byTask, isPod(this.opts.group) ? pause : undefined, last);
  }

  /** Applies the server's newest view of the allocation (a desired stop stops it). */
  update(alloc: AllocView): void {
    this.allocNow = alloc;
    if (alloc.desiredStatus === 'stop') void this.stop();
  }

  /**
   * Stops every task and removes its container, the pause container and the volumes.
   * `as`: how to report the allocation once every task is dead, when the agent (not the
   * server) decided to stop it (cutoff.ts).
   */
  stop(as?: { clientStatus: ClientStatus; description: string }): Promise<void> {
    if (as !== undefined && this.stopping === undefined) this.stoppedAs = as;
    this.stopping ??= this.teardown().then(() => this.emit());
    return this.stopping;
  }

  /** The agent is shutting down: end the runners and leave the containers running. */
  async detach(): Promise<void> {
    this.detached = true;
    this.detachAbort.abort();
    this.checks?.stop();
    this.wake();
    await Promise.all([...this.members.map((m) => m.runner.detach()), this.pod?.detach()]);
  }

  /** The driver came back: every task looks at its container again. */
  reconcile(): void {
    this.pod?.reconcile();
    for (const m of this.members) m.runner.reconcile();
  }

  // ---- start-up

  private launch(recovered: Map<string, RecoveredTask>, recoveredPause: RecoveredTask | undefined, last: Pick<AllocStatus, 'clientStatus' | 'taskStates'> | undefined): void {
    if (this.launched) return;
    this.launched = true;
    const { group } = this.opts;
    const terminal = last !== undefined && isClientTerminal(last.clientStatus);
    if (isPod(group)) {
      this.pod = new Pod({
        alloc: this.allocNow,
        node: this.opts.node,
        restart: group.restart,
        driver: this.opts.driver,
        health: this.opts.health,
        clock: this.opts.clock,
        ...(this.opts.rng ? { rng: this.opts.rng } : {}),
        ...(this.opts.logger ? { logger: this.opts.logger } : {}),
        ...(recoveredPause ? { recovered: recoveredPause } : {}),
        onChange: () => this.onChange(),
      });
    }
    for (const task of group.tasks) {
      let previous = last?.taskStates[task.name];
      // A terminal allocation never runs again, even a task it has no record of.
      if (terminal && previous?.state !== 'dead') previous = { ...(previous ?? { restarts: 0, events: [] }), state: 'dead', failed: previous?.failed ?? false };
      const role = taskRole(task);
      const runner = new TaskRunner({
        alloc: this.allocNow,
        task,
        restart: group.restart,
        jobType: restartJobType(role, this.opts.jobType),
        node: this.opts.node,
        driver: this.opts.driver,
        health: this.opts.health,
        clock: this.opts.clock,
        ...(this.opts.rng ? { rng: this.opts.rng } : {}),
        ...(this.opts.logger ? { logger: this.opts.logger } : {}),
        onChange: (s) => this.onTaskChange(task.name, s),
        ...(previous ? { previous } : {}),
        ...(recovered.get(task.name) ? { recovered: recovered.get(task.name)! } : {}),
        ...(this.pod ? { pod: this.pod } : {}),
      });
      this.members.push({ name: task.name, role, runner });
      this.taskStates[task.name] = runner.state;
    }
    const pod = this.pod;
    if (pod) pod.onNetworkChange(() => this.members.forEach((m) => m.runner.networkChanged()));
    if (group.services?.length) {
      this.checks = new AllocChecks({
        alloc: this.allocNow,
        services: group.services,
        node: { address: this.opts.node.address },
        driver: this.opts.driver,
        clock: this.opts.clock,
        taskHandle: (task) => (this.taskStates[task]?.state === 'running' ? this.taskHandle(task) : undefined),
        ...(this.opts.logger ? { logger: this.opts.logger } : {}),
        onChange: () => this.emit(),
      });
    }
    if (this.allocNow.desiredStatus === 'stop') {
      void this.stop();
      return;
    }
    if (terminal) {
      // Nothing runs again; a pause container left behind only holds ports.
      this.ending = this.releasePod();
      this.emit();
      return;
    }
    pod?.run();
    this.advance();
    this.emit();
  }

  // ---- the allocation's life, level-based

  private onTaskChange(task: string, state: TaskState): void {
    this.taskStates[task] = state;
    this.onChange();
  }

  private onChange(): void {
    this.advance();
    this.wake();
    this.emit();
  }

  /**
   * Does what the tasks' states now call for: start the next lifecycle phase, start the
   * checks, or end the allocation. Safe to call any number of times (runners' `run()` is
   * idempotent); re-entrant calls (a start reports synchronously) are folded into one.
   */
  private advance(): void {
    if (!this.launched || this.stopping || this.ending || this.detached) return;
    if (this.advancing) {
      this.advanceAgain = true;
      return;
    }
    this.advancing = true;
    try {
      do {
        this.advanceAgain = false;
        this.step();
      } while (this.advanceAgain && !this.stopping && !this.ending);
    } finally {
      this.advancing = false;
    }
  }

  private step(): void {
    const failed = this.members.find((m) => this.taskStates[m.name]?.failed);
    if (failed || this.pod?.failure !== undefined) {
      this.log.info({ task: failed?.name ?? PAUSE_TASK }, 'the allocation failed; stopping its other tasks');
      this.ending = this.afterFailure();
      return;
    }
    const before = this.of('prestart', 'sidecar');
    for (const m of before) m.runner.run();
    const prestartDone = before.every((m) => (m.role === 'prestart' ? completed(this.taskStates[m.name]) : started(this.taskStates[m.name])));
    if (!prestartDone) return;
    const main = this.of('main');
    if (!this.mainLaunched) {
      this.mainLaunched = true;
      for (const m of main) m.runner.run();
    }
    if (!this.checksStarted && main.every((m) => this.taskStates[m.name]?.state === 'running')) {
      this.checksStarted = true;
      this.checks?.start();
    }
    // Main tasks only end for good in a batch job (service tasks restart or fail).
    if (main.every((m) => this.taskStates[m.name]?.state === 'dead')) this.ending = this.afterCompletion();
  }

  /** A task (or the pause container) failed for good: stop the rest; no poststop hooks. */
  private async afterFailure(): Promise<void> {
    this.checks?.stop();
    await Promise.all(this.members.filter((m) => this.taskStates[m.name]?.state !== 'dead').map((m) => m.runner.stop()));
    await this.releasePod();
  }

  /** The batch work is done: halt the sidecars, run the poststop hooks, release the network. */
  private async afterCompletion(): Promise<void> {
    this.checks?.stop();
    await Promise.all(this.of('sidecar', 'prestart').map((m) => m.runner.halt()));
    await this.runPoststop();
    await this.releasePod();
  }

  /** Everything goes, in order; the allocation's volumes last. */
  private async teardown(): Promise<void> {
    if (!this.launched) return;
    this.checks?.stop();
    this.wake();
    // The allocation may be finishing on its own (poststop hooks running): let it.
    await this.ending;
    await Promise.all(this.of('main', 'prestart').map((m) => m.runner.stop()));
    await Promise.all(this.of('sidecar').map((m) => m.runner.stop()));
    const failed = this.members.some((m) => this.taskStates[m.name]?.failed) || this.pod?.failure !== undefined;
    // Main tasks ran (here, or before an agent restart): there is something to clean up after.
    const mainStarted = this.mainLaunched || this.of('main').some((m) => started(this.taskStates[m.name]));
    if (mainStarted && !failed) await this.runPoststop();
    await Promise.all(this.of('poststop').map((m) => m.runner.stop()));
    await this.releasePod();
    if (!this.detached) await this.removeVolumes();
  }

  /**
   * Runs the poststop hooks (once) and waits until they are done, or until
   * POSTSTOP_DEADLINE_MS has passed: then the hooks still running are killed (containers
   * kept for their logs) and the stop goes on, so a hook that never ends cannot hold the
   * allocation, its ports and its volumes forever.
   */
  private async runPoststop(): Promise<void> {
    const hooks = this.of('poststop');
    if (!hooks.length) return;
    if (!this.poststopLaunched) {
      this.poststopLaunched = true;
      for (const m of hooks) m.runner.run();
    }
    const done = () => hooks.every((m) => this.taskStates[m.name]?.state === 'dead');
    let late = false;
    const cancel = this.opts.clock.setTimer(POSTSTOP_DEADLINE_MS, () => {
      late = true;
      this.wake();
    });
    try {
      await this.until(() => late || done());
    } finally {
      cancel();
    }
    if (!late || done() || this.detached) return;
    const live = hooks.filter((m) => this.taskStates[m.name]?.state !== 'dead');
    this.log.warn({ tasks: live.map((m) => m.name), deadlineMs: POSTSTOP_DEADLINE_MS }, 'poststop tasks did not finish in time; killing them');
    await Promise.all(live.map((m) => m.runner.halt(`Poststop task still running after ${formatDuration(POSTSTOP_DEADLINE_MS)} (its deadline)`)));
  }

  /** Removes the pause container (after the tasks: they live in its namespace). */
  private async releasePod(): Promise<void> {
    if (this.pod) await this.pod.stop();
    this.podReleased = true;
    this.emit();
  }

  /** Removes the allocation's volumes, now that no container uses them; logs and retries failures. */
  private async removeVolumes(): Promise<void> {
    for (const v of this.opts.group.volumes ?? []) {
      const name = volumeName(this.allocNow.id, v.name);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.opts.driver.removeVolume(name);
          break;
        } catch (e) {
          const last = attempt + 1 >= VOLUME_RETRY.attempts || this.detached;
          this.log[last ? 'error' : 'warn']({ volume: name, err: e instanceof Error ? e.message : String(e), attempt }, last ? 'could not remove the volume; leaving it' : 'could not remove the volume; retrying');
          if (last) break;
          await this.sleep(backoffDelay(attempt, this.opts.rng, VOLUME_RETRY));
        }
      }
    }
  }

  // ---- status

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
    const tasks = this.opts.group.tasks.map((t) => ({ name: t.name, lifecycle: t.lifecycle, state: this.taskStates[t.name] }));
    let { clientStatus, description } = deriveClientStatus(tasks, this.stopping !== undefined);
    const podFailure = this.pod?.failure;
    if (podFailure !== undefined && clientStatus !== 'failed') {
      clientStatus = 'failed';
      description = `Failed: the pod's network (pause container) failed: ${podFailure}`;
    }
    // Its pause container still publishes the ports: not free for another allocation yet.
    if (clientStatus === 'complete' && this.pod && !this.podReleased) {
      clientStatus = 'running';
      description = "Tasks have stopped; removing the pod's network";
    }
    if (this.stoppedAs !== undefined && clientStatus === 'complete') ({ clientStatus, description } = this.stoppedAs);
    const taskStates: Record<string, TaskState> = {};
    for (const t of tasks) if (t.state) taskStates[t.name] = structuredClone(t.state);
    const status: AllocStatus = {
      id: this.allocNow.id,
      nodeId: this.opts.node.id as NodeId,
      clientStatus,
      clientDescription: description,
      taskStates,
      updatedAt: this.opts.clock.now(),
    };
    if (this.checks) status.checks = this.checks.results;
    return status;
  }

  // ---- plumbing

  private of(...roles: TaskRole[]): Member[] {
    return this.members.filter((m) => roles.includes(m.role));
  }

  private wake(): void {
    const c = this.changed;
    this.changed = deferred();
    c.resolve();
  }

  /** Waits until `done()` holds (re-checked after every change); gives up when the agent detaches. */
  private async until(done: () => boolean): Promise<void> {
    while (!done() && !this.detached) await this.changed.promise;
  }

  /** Waits `ms` on the clock, or less when the agent detaches. */
  private sleep(ms: number): Promise<void> {
    return sleep(this.opts.clock, ms, this.detachAbort.signal).catch(() => undefined);
  }
}

/** A task as deriveClientStatus sees it. */
export interface TaskStatusInput {
  name: string;
  lifecycle?: TaskLifecycle | undefined;
  state: TaskState | undefined;
}

/**
 * The allocation's client status from its tasks':
 * - failed if any task failed (the description names it, and the hook it is);
 * - complete once every task is dead;
 * - running once every main task and sidecar has started (one between restarts still
 *   counts) — prestart hooks that completed and poststop hooks that have not run yet do
 *   not hold it back;
 * - pending before that (prestart hooks running, tasks starting).
 */
export function deriveClientStatus(tasks: readonly TaskStatusInput[], stopped: boolean): { clientStatus: ClientStatus; description: string } {
  const roled = tasks.map((t) => ({ ...t, role: taskRole(t) }));
  const failed = roled.filter((t) => t.state?.failed);
  if (failed.length) {
    const reason = lastFailureMessage(failed[0]!.state!);
    return { clientStatus: 'failed', description: `Failed: ${failed.map((t) => describeTask(t.name, t.role)).join(', ')} failed${reason ? `: ${reason}` : ''}` };
  }
  if (roled.every((t) => t.state?.state === 'dead')) {
    return { clientStatus: 'complete', description: stopped ? 'Stopped by the server' : 'All tasks have completed' };
  }
  const alongside = roled.filter((t) => t.role === 'main' || t.role === 'sidecar');
  if (alongside.every((t) => started(t.state))) {
    const mainDone = alongside.every((t) => t.role !== 'main' || t.state?.state === 'dead');
    return { clientStatus: 'running', description: mainDone ? 'Main tasks have ended; finishing sidecars and poststop tasks' : 'Tasks are running' };
  }
  const hooksLeft = roled.some((t) => t.role === 'prestart' && !completed(t.state));
  return { clientStatus: 'pending', description: hooksLeft ? 'Running prestart tasks' : 'Tasks are starting' };
}

/** Has run at least once (a task between restarts still counts). */
function started(s: TaskState | undefined): boolean {
  return s !== undefined && (s.state === 'running' || s.state === 'dead' || s.startedAt !== undefined);
}

/** A hook that ran to completion: dead and not failed. */
function completed(s: TaskState | undefined): boolean {
  return s !== undefined && s.state === 'dead' && !s.failed;
}

/** Why a failed task gave up, from its events ("Exit code 3; Exceeded allowed attempts…"). */
function lastFailureMessage(s: TaskState): string {
  const last = s.events.at(-1);
  if (!last) return '';
  if (last.type === 'not-restarting') {
    const exit = s.events.findLast((e) => e.type === 'terminated');
    return exit ? `${exit.message}; ${last.message}` : last.message;
  }
  return last.type === 'driver-failure' ? last.message : '';
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
