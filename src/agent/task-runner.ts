import type { Allocation, TaskEventType, TaskState } from '../core/alloc.js';
import { MAX_TASK_EVENTS } from '../core/alloc.js';
import type { JobType, RestartPolicy, Task } from '../core/job.js';
import { backoffDelay } from '../lib/backoff.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import { DriverError } from '../driver/driver.js';
import type { Driver, RecoveredTask, TaskExit, TaskHandle, TaskInspection, TaskSpec } from '../driver/driver.js';
import type { DriverHealthTracker } from './driver-health.js';
import { decideRestart, describeExit, formatDuration } from './restart-policy.js';
import { buildTaskSpec, type NodeIdentity } from './task-spec.js';

/** Backoff for retryable driver errors (engine down): these never count as restarts. */
const DRIVER_RETRY = { baseMs: 1_000, maxMs: 30_000 } as const;

export interface TaskRunnerOptions {
  alloc: Pick<Allocation, 'id' | 'namespace' | 'jobName' | 'group' | 'index' | 'ports'>;
  task: Task;
  restart: RestartPolicy;
  jobType: JobType;
  node: NodeIdentity;
  driver: Driver;
  health: DriverHealthTracker;
  clock: Clock;
  rng?: Rng;
  logger?: Logger;
  /** Called with a copy of the state after every change. */
  onChange: (state: TaskState) => void;
  /** The state last reported for this task (restore path): restarts and events carry over. */
  previous?: TaskState;
  /** The task's container as `driver.recover()` found it after an agent restart. */
  recovered?: RecoveredTask;
  /** The task is one of a pod's: it joins the pod's pause container (see PodNetwork). */
  pod?: PodNetwork;
  /** What to start instead of the spec built from `task` (the pod's pause container). */
  spec?: TaskSpec;
}

/**
 * A pod's network as its tasks see it: the pause container holding the namespace. Every
 * start of the task waits for it and joins it; when it is replaced (it died and was
 * restarted), a task still in the old one is restarted in the new one.
 */
export interface PodNetwork {
  /** The running pause container's id; undefined while it is not running. */
  pauseId(): string | undefined;
  /** Resolves once the pause container runs (at once if it does). */
  ready(): Promise<void>;
  /** The pause container found at recovery: the namespace reattached tasks are in. */
  readonly recoveredPauseId?: string | undefined;
}

/** Where the loop goes next: one state transition per step (as SwarmKit's exec controller). */
type Step = { kind: 'start' } | { kind: 'wait' } | { kind: 'exited'; exit: TaskExit } | { kind: 'rejoin' } | { kind: 'done' };

/** What watching a running task produced. */
type Watch = { kind: 'exit'; exit: TaskExit } | { kind: 'lost'; error: unknown } | { kind: 'nudged' } | { kind: 'network' } | { kind: 'aborted' };

/**
 * Runs one task of one allocation: pending → starting → running → dead, restarting it per
 * the group's restart policy. One async loop owns the driver handle; `stop()` and
 * `detach()` only ask that loop to end and then act on what it left, so two starts of
 * the same task can never race.
 *
 * - `stop()`: the server wants it gone: stop, destroy, dead + 'killed'.
 * - `detach()`: the agent is shutting down: leave the container running, to be
 *   reattached by the next agent (ARCHITECTURE invariant 6).
 */
export class TaskRunner {
  readonly name: string;
  private readonly spec: TaskSpec;
  private readonly log: Logger;
  private current: TaskState;
  private handleNow: TaskHandle | undefined;
  /** Exited containers not yet removed (they would clash with the next start's name). */
  private stale: TaskHandle[] = [];
  /** When restarts began, for the policy's interval. */
  private readonly restartTimes: number[] = [];
  /** Ends the loop (stop or detach). */
  private readonly loopAbort = new AbortController();
  /** Ends even the clean-up retries (detach: the agent is going away). */
  private readonly shutdownAbort = new AbortController();
  private readonly abortedP: Promise<Watch>;
  private nudge = deferred();
  /** Resolved when the pod's pause container changed (networkChanged()). */
  private netChange = deferred();
  /** The pause container the current container joined (pods only). */
  private joinedTo: string | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private started = false;
  private stopping: Promise<void> | undefined;
  private halting: Promise<void> | undefined;

  constructor(private readonly opts: TaskRunnerOptions) {
    this.name = opts.task.name;
    this.spec = opts.spec ?? buildTaskSpec(opts.alloc, opts.task, opts.node, opts.pod !== undefined);
    this.log = (opts.logger ?? silentLogger()).child({ alloc: opts.alloc.id, task: opts.task.name });
    this.current = opts.previous
      ? structuredClone(opts.previous)
      : { state: 'pending', failed: false, restarts: 0, events: [] };
    this.abortedP = new Promise((resolve) =>
      this.loopAbort.signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true }),
    );
  }

  /** A copy of the task's state as it would be reported. */
  get state(): TaskState {
    return structuredClone(this.current);
  }

  /** The task's container (running, or the last one it ran in), for logs. */
  get handle(): TaskHandle | undefined {
    return this.handleNow;
  }

  /** Starts the loop (once). From `recovered`, reattaches instead of starting a new container. */
  run(): void {
    if (this.started || this.loopAbort.signal.aborted) return;
    this.started = true;
    this.loopDone = this.loop().catch((e: unknown) => {
      // A bug, not a task failure: leave the task as it is and say so loudly.
      this.log.error({ err: e }, 'task runner loop crashed');
    });
  }

  /** Look at the driver again now (the engine came back): a task that died meanwhile follows its policy. */
  reconcile(): void {
    const n = this.nudge;
    this.nudge = deferred();
    n.resolve();
  }

  /** The pod's pause container changed: a task in the old namespace restarts in the new one. */
  networkChanged(): void {
    const n = this.netChange;
    this.netChange = deferred();
    n.resolve();
  }

  /**
   * Ends the loop and stops the container but keeps it (its logs stay readable): a batch
   * allocation's sidecar once the main tasks are done, or a poststop hook past its
   * deadline (`reason` then starts the 'killing' event). A later `stop()` removes it.
   */
  halt(reason?: string): Promise<void> {
    this.halting ??= (async () => {
      this.loopAbort.abort();
      await this.loopDone;
      const handle = this.handleNow ?? this.opts.recovered?.handle;
      const live = this.current.state !== 'dead';
      if (handle && live) {
        const signal = `stop signal; force kill after ${formatDuration(this.opts.task.killTimeoutMs)}`;
        this.update((s) => pushEvent(s, this.opts.clock.now(), 'killing', reason ? `${reason}: sent ${signal}` : `Sent ${signal}`));
        await this.retryDriver('stop', () => this.opts.driver.stop(handle, this.opts.task.killTimeoutMs));
      }
      if (live) {
        this.update((s) => {
          s.state = 'dead';
          s.finishedAt = this.opts.clock.now();
          pushEvent(s, s.finishedAt, 'killed', 'Task killed by Karu');
        });
      }
    })();
    return this.halting;
  }

  /** Stops and removes the task's container; the task ends dead (not failed, unless it already had). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.loopAbort.abort();
      await this.loopDone;
      await this.halting;
      await this.kill();
    })();
    return this.stopping;
  }

  /** Ends the runner and leaves the container as it is, for the next agent to reattach. */
  async detach(): Promise<void> {
    this.loopAbort.abort();
    this.shutdownAbort.abort();
    await this.loopDone;
    await this.stopping;
  }

  // ---- the loop

  private async loop(): Promise<void> {
    let step: Step = this.firstStep();
    while (step.kind !== 'done' && !this.loopAbort.signal.aborted) {
      switch (step.kind) {
        case 'start':
          step = (await this.startTask()) ? { kind: 'wait' } : { kind: 'done' };
          break;
        case 'wait': {
          const exit = await this.waitExit(this.handleNow!);
          step = exit === 'network' ? { kind: 'rejoin' } : exit ? { kind: 'exited', exit } : { kind: 'done' };
          break;
        }
        case 'exited':
          step = await this.afterExit(step.exit);
          break;
        case 'rejoin':
          step = await this.rejoin();
          break;
      }
    }
  }

  private firstStep(): Step {
    const { recovered, previous } = this.opts;
    if (recovered) {
      this.handleNow = recovered.handle;
      this.joinedTo = this.opts.pod?.recoveredPauseId;
      // It finished before the agent went away and that was reported: nothing more to do.
      if (!recovered.running && previous?.state === 'dead') return { kind: 'done' };
      this.update((s) => {
        if (recovered.running) s.state = 'running';
        s.containerId = recovered.handle.id;
        pushEvent(s, this.opts.clock.now(), 'reattached', recovered.running ? `Reattached to container ${short(recovered.handle.id)}` : `Found container ${short(recovered.handle.id)} exited while the agent was away`);
      });
      // For an exited container, wait() answers at once with its exit: the policy decides.
      return { kind: 'wait' };
    }
    if (previous?.state === 'dead') return { kind: 'done' };
    this.update((s) => pushEvent(s, this.opts.clock.now(), 'received', 'Task received by agent'));
    return { kind: 'start' };
  }

  /** starting → running, or → dead + failed when the driver refuses for good. */
  private async startTask(): Promise<boolean> {
    this.update((s) => (s.state = 'starting'));
    let attempt = 0;
    let lastReported = '';
    while (!this.loopAbort.signal.aborted) {
      let spec = this.spec;
      try {
        await this.removeStale();
        const pod = this.opts.pod;
        if (pod) {
          // No namespace to join while the pause container is (re)starting: wait for it.
          await Promise.race([pod.ready(), this.abortedP]);
          if (this.loopAbort.signal.aborted) return false;
          const pauseId = pod.pauseId();
          if (pauseId === undefined) continue;
          spec = { ...this.spec, joinNetworkOf: pauseId };
        }
        const handle = await this.opts.driver.start(spec);
        this.handleNow = handle;
        this.joinedTo = spec.joinNetworkOf;
        const now = this.opts.clock.now();
        this.update((s) => {
          s.state = 'running';
          s.containerId = handle.id;
          s.startedAt = now;
          delete s.finishedAt;
          delete s.exitCode;
          pushEvent(s, now, 'started', `Task started by driver ${this.opts.driver.name}`);
        });
        return true;
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        // The pause container went away under the start: the network's fault, not the task's.
        const networkGone = spec.joinNetworkOf !== undefined && this.opts.pod?.pauseId() !== spec.joinNetworkOf;
        if ((e instanceof DriverError && e.retryable) || networkGone) {
          // Engine down or similar: wait for it (or a backoff), and do not count a restart.
          if (message !== lastReported) {
            lastReported = message;
            this.update((s) => pushEvent(s, this.opts.clock.now(), 'driver-failure', `${message} (will retry)`));
          }
          this.log.warn({ err: message, attempt }, 'driver unavailable, retrying start');
          await this.pause(backoffDelay(attempt++, this.opts.rng, DRIVER_RETRY), true);
          continue;
        }
        this.log.warn({ err: message }, 'task failed to start');
        this.update((s) => {
          s.state = 'dead';
          s.failed = true;
          s.finishedAt = this.opts.clock.now();
          pushEvent(s, s.finishedAt, 'driver-failure', message);
        });
        return false;
      }
    }
    return false;
  }

  /**
   * Follows the running task until it exits. When the engine connection breaks, waits for
   * the engine and asks `inspect` what happened meanwhile. Undefined when the loop is ending;
   * 'network' when the pod's pause container changed and the task must rejoin it.
   */
  private async waitExit(handle: TaskHandle): Promise<TaskExit | 'network' | undefined> {
    let watching = this.watch(handle);
    let attempt = 0;
    for (;;) {
      if (this.networkStale()) return 'network';
      const w = await Promise.race([
        watching,
        this.abortedP,
        this.nudge.promise.then((): Watch => ({ kind: 'nudged' })),
        this.netChange.promise.then((): Watch => ({ kind: 'network' })),
      ]);
      if (w.kind === 'aborted') return undefined;
      if (w.kind === 'exit') return w.exit;
      if (w.kind === 'network') continue;
      if (w.kind === 'lost') {
        this.log.warn({ err: errorMessage(w.error) }, 'lost the driver while waiting on the task');
        if (!this.opts.health.healthy) await this.pause(backoffDelay(attempt++, this.opts.rng, DRIVER_RETRY), true);
        if (this.loopAbort.signal.aborted) return undefined;
      }
      const seen = await this.inspect(handle);
      if (this.loopAbort.signal.aborted) return undefined;
      if (seen === 'unknown') {
        await this.pause(backoffDelay(attempt++, this.opts.rng, DRIVER_RETRY), true);
        if (w.kind === 'lost') watching = this.watch(handle);
        continue;
      }
      if (seen === undefined) return { exitCode: -1, signaled: true, oomKilled: false, finishedAt: this.opts.clock.now(), error: 'container no longer exists' };
      if (!seen.running) return seen.exit ?? { exitCode: -1, signaled: false, oomKilled: false, finishedAt: this.opts.clock.now(), error: 'exit status unknown' };
      attempt = 0;
      if (w.kind === 'lost') watching = this.watch(handle);
    }
  }

  /** running → dead, or → pending and back to start after the policy's delay. */
  private async afterExit(exit: TaskExit): Promise<Step> {
    const now = this.opts.clock.now();
    this.update((s) => {
      s.exitCode = exit.exitCode;
      s.finishedAt = exit.finishedAt || now;
      pushEvent(s, now, 'terminated', describeExit(exit), exit.exitCode);
    });
    const decision = decideRestart({ policy: this.opts.restart, jobType: this.opts.jobType, exit, now, recentRestarts: this.restartTimes });
    if (decision.kind === 'complete') {
      this.update((s) => (s.state = 'dead'));
      return { kind: 'done' };
    }
    if (decision.kind === 'fail') {
      this.update((s) => {
        s.state = 'dead';
        s.failed = true;
        pushEvent(s, now, 'not-restarting', decision.message);
      });
      return { kind: 'done' };
    }
    if (this.handleNow) this.stale.push(this.handleNow);
    this.update((s) => {
      s.state = 'pending';
      s.restarts += 1;
      pushEvent(s, now, 'restarting', decision.message);
    });
    await this.pause(decision.delayMs, false);
    if (this.loopAbort.signal.aborted) return { kind: 'done' };
    this.restartTimes.push(this.opts.clock.now());
    return { kind: 'start' };
  }

  /** In a pod whose pause container was replaced: stop the task and start it in the new namespace. */
  private networkStale(): boolean {
    const pod = this.opts.pod;
    return pod !== undefined && this.joinedTo !== pod.pauseId();
  }

  /**
   * running → pending → start: the task lost its network with the old pause container.
   * Not the task's fault, so it does not count against the restart policy.
   */
  private async rejoin(): Promise<Step> {
    const handle = this.handleNow;
    this.update((s) => {
      s.state = 'pending';
      s.restarts += 1;
      pushEvent(s, this.opts.clock.now(), 'restarting', "The pod's network container was replaced: restarting the task in the new one");
    });
    if (handle) {
      await this.retryDriver('stop', () => this.opts.driver.stop(handle, this.opts.task.killTimeoutMs));
      this.stale.push(handle);
    }
    this.joinedTo = undefined;
    return this.loopAbort.signal.aborted ? { kind: 'done' } : { kind: 'start' };
  }

  // ---- clean-up

  /** After the loop ended on stop(): stop and remove every container of this task. */
  private async kill(): Promise<void> {
    const live = this.current.state !== 'dead';
    // A runner stopped before it ran still owns the container it was given to reattach.
    const handle = this.handleNow ?? this.opts.recovered?.handle;
    if (handle && this.current.state === 'running') {
      this.update((s) => pushEvent(s, this.opts.clock.now(), 'killing', `Sent stop signal; force kill after ${formatDuration(this.opts.task.killTimeoutMs)}`));
    }
    if (handle) {
      await this.retryDriver('stop', () => this.opts.driver.stop(handle, this.opts.task.killTimeoutMs));
      if (await this.retryDriver('destroy', () => this.opts.driver.destroy(handle))) this.handleNow = undefined;
    }
    await this.removeStale();
    if (live) {
      this.update((s) => {
        s.state = 'dead';
        s.finishedAt = this.opts.clock.now();
        pushEvent(s, s.finishedAt, 'killed', 'Task killed by Karu');
      });
    }
  }

  private async removeStale(): Promise<void> {
    while (this.stale.length) {
      const h = this.stale[0]!;
      // A retryable failure here is thrown on, so start() treats it as "engine down".
      await this.opts.driver.destroy(h);
      this.stale.shift();
    }
  }

  /** Runs a clean-up call, retrying while the engine is away; false when it gave up. */
  private async retryDriver(what: string, fn: () => Promise<void>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        return true;
      } catch (e) {
        const retryable = e instanceof DriverError && e.retryable;
        this.log.warn({ err: errorMessage(e), retryable }, `driver ${what} failed`);
        if (!retryable || this.shutdownAbort.signal.aborted) return false;
        await this.pause(backoffDelay(attempt, this.opts.rng, DRIVER_RETRY), true, this.shutdownAbort.signal);
        if (this.shutdownAbort.signal.aborted) return false;
      }
    }
  }

  // ---- plumbing

  private watch(handle: TaskHandle): Promise<Watch> {
    return this.opts.driver.wait(handle).then(
      (exit): Watch => ({ kind: 'exit', exit }),
      (error: unknown): Watch => ({ kind: 'lost', error }),
    );
  }

  /** 'unknown' when the driver could not answer (engine still away). */
  private async inspect(handle: TaskHandle): Promise<TaskInspection | undefined | 'unknown'> {
    try {
      return await this.opts.driver.inspect(handle);
    } catch (e) {
      this.log.warn({ err: errorMessage(e) }, 'driver inspect failed');
      return 'unknown';
    }
  }

  /**
   * Waits `ms` on the clock, ending early when `signal` aborts, and with `wake`, when the
   * driver turns healthy or reconcile() is called (a retry may now succeed).
   */
  private pause(ms: number, wake: boolean, signal: AbortSignal = this.loopAbort.signal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const cleanups: (() => void)[] = [];
      let finished = false;
      const done = () => {
        if (finished) return;
        finished = true;
        for (const c of cleanups) c();
        resolve();
      };
      cleanups.push(this.opts.clock.setTimer(ms, done));
      signal.addEventListener('abort', done, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', done));
      if (wake) {
        const healthy = this.opts.health.nextHealthy();
        void healthy.promise.then(done);
        cleanups.push(healthy.cancel);
        void this.nudge.promise.then(done);
      }
    });
  }

  private update(mutate: (s: TaskState) => void): void {
    mutate(this.current);
    this.opts.onChange(structuredClone(this.current));
  }
}

function pushEvent(s: TaskState, time: number, type: TaskEventType, message: string, exitCode?: number): void {
  s.events.push(exitCode === undefined ? { type, time, message } : { type, time, message, exitCode });
  if (s.events.length > MAX_TASK_EVENTS) s.events.splice(0, s.events.length - MAX_TASK_EVENTS);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const short = (id: string) => id.slice(0, 12);
