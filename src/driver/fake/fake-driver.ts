import { sleep, type Clock } from '../../lib/clock.js';
import {
  DriverError,
  type Driver,
  type DriverFingerprint,
  type ExecResult,
  type LogLine,
  type LogOptions,
  type RecoveredTask,
  type TaskExit,
  type TaskHandle,
  type TaskInspection,
  type TaskSpec,
  type VolumeInfo,
} from '../driver.js';
import { checkNetworkSpec } from '../spec-checks.js';
import { playExec } from './fake-exec.js';
import { fakeProgram, type FakeStep } from './fake-script.js';

export interface FakeDriverOptions {
  /** Images present on this fake node; any other image fails to start, like a failed pull. Default: every image exists. */
  images?: readonly string[];
  /** How long `start` takes. Needs `clock`. Default 0. */
  startDelayMs?: number;
  /**
   * Time for tasks: `sleep` steps, the stop grace period, the start delay. Without a clock
   * no time passes for tasks: a sleep lasts until the task is stopped, and a stop kills a
   * task that ignores SIGTERM at once. The fake never creates real timers of its own.
   */
  clock?: Clock;
  /** Extra attributes for `fingerprint()`. */
  attributes?: Record<string, string>;
}

/** Picks a task: by its handle, or by alloc and task name (the newest such task). */
export type FakeTarget = TaskHandle | { allocId: string; task: string };

/** A programmed exec answer: a fixed result, or computed from the command. */
export type FakeExecAnswer = ExecResult | ((command: string[], handle: TaskHandle) => ExecResult | Promise<ExecResult>);

export interface FakeExitOptions {
  signaled?: boolean;
  oomKilled?: boolean;
  error?: string;
}

interface FakeTask {
  handle: TaskHandle;
  spec: TaskSpec;
  program: FakeStep[];
  running: boolean;
  startedAt: number;
  exit?: TaskExit;
  ignoreTerm: boolean;
  /** A pause container: exits 0 on SIGTERM. */
  pause: boolean;
  logs: LogLine[];
  waiters: ((exit: TaskExit) => void)[];
  /** Log followers waiting for a new line or the end. */
  wake: Set<() => void>;
  cancelStep?: () => void;
}

const SIGKILL_EXIT = 137;
const SIGTERM_EXIT = 143;

/**
 * An in-memory Driver for the agent's unit tests and for simulated nodes: tasks "run"
 * a small script (see fake-script.ts) until they exit, are stopped, or a test calls
 * `exit()`. Faults are injected on demand (`failNextStart`, missing images,
 * `setHealthy(false)`). Deterministic: ids count up, and time only passes on the
 * injected clock.
 */
export class FakeDriver implements Driver {
  readonly name = 'fake';
  private readonly tasks = new Map<string, FakeTask>();
  private readonly byName = new Map<string, string>();
  private readonly listeners = new Set<(healthy: boolean, detail: string) => void>();
  private readonly images: Set<string> | undefined;
  private readonly clock: Clock | undefined;
  private healthy = true;
  private healthDetail = 'fake driver healthy';
  private nextFailure: DriverError | undefined;
  /** Volume name → the allocation that created it. */
  private readonly volumeSet = new Map<string, { nodeId: string; allocId: string }>();
  /** Programmed exec answers by task handle id, and by task name. */
  private readonly execById = new Map<string, FakeExecAnswer>();
  private readonly execByTask = new Map<string, FakeExecAnswer>();
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: FakeDriverOptions = {}) {
    this.images = opts.images ? new Set(opts.images) : undefined;
    this.clock = opts.clock;
    if ((opts.startDelayMs ?? 0) > 0 && !opts.clock) {
      throw new Error('FakeDriver: startDelayMs needs a clock (the fake creates no real timers of its own)');
    }
  }

  // --- test controls ---------------------------------------------------------------

  /** The next `start` rejects with this error (once). */
  failNextStart(error: string | Error, retryable: boolean): void {
    const message = typeof error === 'string' ? error : error.message;
    this.nextFailure = new DriverError(message, retryable, typeof error === 'string' ? undefined : { cause: error });
  }

  /** Marks the fake engine down or up; listeners hear of transitions only. While down, calls fail as retryable. */
  setHealthy(healthy: boolean, detail = healthy ? 'fake driver healthy' : 'fake driver unhealthy'): void {
    this.healthDetail = detail;
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    for (const l of this.listeners) l(healthy, detail);
  }

  /** Ends a running task as if its process exited with `exitCode`. No-op if it is not running. */
  exit(target: FakeTarget, exitCode: number, opts: FakeExitOptions = {}): void {
    const task = this.resolve(target);
    if (!task) throw new Error(`FakeDriver.exit: no such task ${JSON.stringify(target)}`);
    this.finish(task, exitCode, opts);
  }

  /** Appends a line to a task's log, as if the task printed it. */
  writeLog(target: FakeTarget, line: string, stream: LogLine['stream'] = 'stdout'): void {
    const task = this.resolve(target);
    if (!task) throw new Error(`FakeDriver.writeLog: no such task ${JSON.stringify(target)}`);
    this.appendLog(task, stream, line);
  }

  /** Makes an image present (for tests that pre-pull). */
  addImage(image: string): void {
    this.images?.add(image);
  }

  /**
   * Programs what `exec` answers in a task: `target` is a handle, `{allocId, task}`, or a
   * task name (every task of that name, in any allocation). A handle wins over a name.
   * Without one, exec plays the command with the fake's script language (fake-exec.ts).
   */
  setExecResult(target: FakeTarget | string, answer: FakeExecAnswer): void {
    if (typeof target === 'string') {
      this.execByTask.set(target, answer);
      return;
    }
    const task = this.resolve(target);
    if (!task) throw new Error(`FakeDriver.setExecResult: no such task ${JSON.stringify(target)}`);
    this.execById.set(task.handle.id, answer);
  }

  /** Volumes that exist (created by a task's start, not yet removed), by name. */
  volumes(): string[] {
    return [...this.volumeSet.keys()].sort();
  }

  /** Every task that exists, with the spec it was started from. */
  list(): { handle: TaskHandle; spec: TaskSpec; running: boolean }[] {
    return [...this.tasks.values()].map((t) => ({ handle: t.handle, spec: t.spec, running: t.running }));
  }

  // --- Driver ----------------------------------------------------------------------

  async fingerprint(): Promise<DriverFingerprint> {
    return {
      healthy: this.healthy,
      detail: this.healthDetail,
      attributes: { 'driver.fake': 'true', ...this.opts.attributes },
    };
  }

  async start(spec: TaskSpec): Promise<TaskHandle> {
    this.assertUsable();
    const failure = this.nextFailure;
    this.nextFailure = undefined;
    if (failure) throw failure;
    checkNetworkSpec(spec);
    const pause = spec.kind === 'pause';
    // The pause image is the driver's own (built when missing), never pulled.
    if (!pause && this.images && !this.images.has(spec.image)) {
      throw new DriverError(
        `image ${spec.image} not found locally and could not be pulled: pull access denied for ${spec.image.split(':')[0]}, repository does not exist`,
        false,
      );
    }
    if (this.opts.startDelayMs && this.clock) await sleep(this.clock, this.opts.startDelayMs);
    this.assertUsable();

    const existingId = this.byName.get(spec.name);
    const existing = existingId === undefined ? undefined : this.tasks.get(existingId);
    if (existing) {
      // As Docker does for a name conflict: adopt our own running task, replace a stopped one.
      const l = existing.handle.labels;
      if (l.nodeId !== spec.labels.nodeId || l.allocId !== spec.labels.allocId || l.task !== spec.labels.task) {
        throw new DriverError(`container name ${spec.name} is taken by task ${existing.handle.id}, which is not this task's`, false);
      }
      if (existing.running && existing.spec.image === spec.image) return existing.handle;
      this.remove(existing);
    }

    if (spec.joinNetworkOf !== undefined) {
      const holder = this.tasks.get(spec.joinNetworkOf);
      if (!holder?.running) {
        throw new DriverError(
          `start task ${spec.name}: the task whose network it joins (${spec.joinNetworkOf}) ${holder ? 'is not running' : 'does not exist'}`,
          false,
        );
      }
    }
    for (const v of spec.volumes ?? []) {
      if (!this.volumeSet.has(v.name)) this.volumeSet.set(v.name, { nodeId: spec.labels.nodeId, allocId: spec.labels.allocId });
    }

    const id = `fake-${String(++this.seq).padStart(6, '0')}`;
    const task: FakeTask = {
      handle: { id, labels: { ...spec.labels } },
      spec: structuredClone(spec),
      program: pause ? [{ type: 'forever' }] : fakeProgram(spec.command, spec.args, spec.env),
      running: true,
      startedAt: this.now(),
      ignoreTerm: false,
      pause,
      logs: [],
      waiters: [],
      wake: new Set(),
    };
    this.tasks.set(id, task);
    this.byName.set(spec.name, id);
    this.run(task, 0);
    return task.handle;
  }

  wait(handle: TaskHandle): Promise<TaskExit> {
    const task = this.tasks.get(handle.id);
    if (!task) return Promise.resolve(this.goneExit(handle.id));
    if (task.exit) return Promise.resolve(task.exit);
    return new Promise((resolve) => task.waiters.push(resolve));
  }

  async stop(handle: TaskHandle, timeoutMs: number): Promise<void> {
    this.assertUsable();
    const task = this.tasks.get(handle.id);
    if (!task || !task.running) return;
    if (task.pause) return this.finish(task, 0, { signaled: false }); // its handler exits 0
    if (!task.ignoreTerm) return this.finish(task, SIGTERM_EXIT, { signaled: true });
    if (this.clock && timeoutMs > 0) {
      // The task ignores SIGTERM: it runs out the grace period unless it exits meanwhile.
      await new Promise<void>((resolve) => {
        const cancel = this.clock!.setTimer(timeoutMs, resolve);
        task.waiters.push(() => {
          cancel();
          resolve();
        });
      });
    }
    this.finish(task, SIGKILL_EXIT, { signaled: true });
  }

  async destroy(handle: TaskHandle): Promise<void> {
    this.assertUsable();
    const task = this.tasks.get(handle.id);
    if (task) this.remove(task);
  }

  async inspect(handle: TaskHandle): Promise<TaskInspection | undefined> {
    this.assertUsable();
    const task = this.tasks.get(handle.id);
    if (!task) return undefined;
    return task.exit ? { running: false, startedAt: task.startedAt, exit: task.exit } : { running: true, startedAt: task.startedAt };
  }

  async recover(nodeId: string): Promise<RecoveredTask[]> {
    this.assertUsable();
    return [...this.tasks.values()]
      .filter((t) => t.handle.labels.nodeId === nodeId)
      .map((t) => ({ handle: { id: t.handle.id, labels: { ...t.handle.labels } }, running: t.running }));
  }

  async *logs(handle: TaskHandle, opts: LogOptions): AsyncIterable<LogLine> {
    const task = this.tasks.get(handle.id);
    if (!task) throw new DriverError(`logs: task ${handle.id} no longer exists`, false);
    let next = opts.tail === undefined ? 0 : Math.max(0, task.logs.length - opts.tail);
    for (;;) {
      while (next < task.logs.length) {
        if (opts.signal?.aborted) return;
        yield task.logs[next++]!;
      }
      if (opts.signal?.aborted || !opts.follow || !task.running || !this.tasks.has(task.handle.id)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          task.wake.delete(done);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        };
        task.wake.add(done);
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  onHealthChange(listener: (healthy: boolean, detail: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async exec(handle: TaskHandle, command: string[], opts: { timeoutMs: number }): Promise<ExecResult> {
    this.assertUsable();
    const task = this.tasks.get(handle.id);
    if (!task) throw new DriverError(`exec in task ${handle.id}: it no longer exists`, false);
    if (!task.running) throw new DriverError(`exec in task ${handle.id}: it is not running`, false);
    const answer = this.execById.get(task.handle.id) ?? this.execByTask.get(task.handle.labels.task);
    if (answer !== undefined) {
      const r = typeof answer === 'function' ? await answer([...command], task.handle) : answer;
      return { exitCode: r.exitCode, output: r.output.slice(-4096) };
    }
    // A task in a pod sees the resolver configuration of the pod's pause container.
    const dns = task.spec.joinNetworkOf === undefined ? task.spec.dns : this.tasks.get(task.spec.joinNetworkOf)?.spec.dns;
    const played = playExec(command, task.spec.env, dns);
    if (played.durationMs >= opts.timeoutMs) {
      // Without a clock no time passes, so an exec that would outlast its timeout fails at once.
      if (this.clock) await sleep(this.clock, opts.timeoutMs);
      throw new DriverError(`exec in task ${handle.id}: ${JSON.stringify(command)} did not finish within ${opts.timeoutMs} ms`, true);
    }
    if (played.durationMs > 0 && this.clock) await sleep(this.clock, played.durationMs);
    return { exitCode: played.exitCode, output: played.output.slice(-4096) };
  }

  async removeVolume(name: string): Promise<void> {
    this.assertUsable();
    if (!this.volumeSet.has(name)) return;
    const user = [...this.tasks.values()].find((t) => t.spec.volumes?.some((v) => v.name === name));
    // As Docker: a volume mounted by any existing task, running or not, is in use.
    if (user) throw new DriverError(`remove volume ${name}: volume is in use by task ${user.handle.id}`, true);
    this.volumeSet.delete(name);
  }

  async listVolumes(nodeId: string): Promise<VolumeInfo[]> {
    this.assertUsable();
    return [...this.volumeSet].filter(([, v]) => v.nodeId === nodeId).map(([name, v]) => ({ name, allocId: v.allocId }));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.tasks.values()) t.cancelStep?.();
    this.listeners.clear();
  }

  // --- internals -------------------------------------------------------------------

  private now(): number {
    return this.clock?.now() ?? 0;
  }

  private assertUsable(): void {
    if (this.closed) throw new DriverError('fake driver is closed', false);
    if (!this.healthy) throw new DriverError(`fake engine unavailable: ${this.healthDetail}`, true);
  }

  private resolve(target: FakeTarget): FakeTask | undefined {
    if ('id' in target) return this.tasks.get(target.id);
    let found: FakeTask | undefined;
    for (const t of this.tasks.values()) {
      if (t.handle.labels.allocId === target.allocId && t.handle.labels.task === target.task) found = t;
    }
    return found;
  }

  /** Plays the program from step `i` until it sleeps, runs forever, or exits. */
  private run(task: FakeTask, i: number): void {
    for (; i < task.program.length && task.running; i++) {
      const step = task.program[i]!;
      switch (step.type) {
        case 'echo':
          this.appendLog(task, step.stream, step.text);
          break;
        case 'ignore-term':
          task.ignoreTerm = true;
          break;
        case 'exit':
          return this.finish(task, step.code, {});
        case 'forever':
          return;
        case 'sleep': {
          if (!this.clock) return; // no clock: time never passes, the sleep lasts until stop
          const from = i + 1;
          task.cancelStep = this.clock.setTimer(step.ms, () => {
            task.cancelStep = undefined;
            this.run(task, from);
          });
          return;
        }
      }
    }
  }

  private appendLog(task: FakeTask, stream: LogLine['stream'], line: string): void {
    task.logs.push({ stream, line, time: this.now() });
    this.wakeFollowers(task);
  }

  private wakeFollowers(task: FakeTask): void {
    for (const w of [...task.wake]) w();
  }

  private finish(task: FakeTask, exitCode: number, opts: FakeExitOptions): void {
    if (!task.running) return;
    task.running = false;
    task.cancelStep?.();
    const exit: TaskExit = {
      exitCode,
      signaled: opts.signaled ?? (opts.oomKilled === true || (exitCode > 128 && exitCode <= 192)),
      oomKilled: opts.oomKilled ?? false,
      finishedAt: this.now(),
    };
    if (opts.error !== undefined) exit.error = opts.error;
    else if (opts.oomKilled) exit.error = 'killed by the kernel: out of memory';
    task.exit = exit;
    for (const w of task.waiters.splice(0)) w(exit);
    this.wakeFollowers(task);
  }

  private remove(task: FakeTask): void {
    this.finish(task, SIGKILL_EXIT, { signaled: true });
    this.tasks.delete(task.handle.id);
    this.execById.delete(task.handle.id);
    if (this.byName.get(task.spec.name) === task.handle.id) this.byName.delete(task.spec.name);
    this.wakeFollowers(task);
  }

  private goneExit(id: string): TaskExit {
    return { exitCode: -1, signaled: false, oomKilled: false, finishedAt: this.now(), error: `task ${id} disappeared` };
  }
}
