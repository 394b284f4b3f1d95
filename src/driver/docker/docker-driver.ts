import Dockerode from 'dockerode';
import type { BackoffOptions } from '../../lib/backoff.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import type { Rng } from '../../lib/rng.js';
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
import { containerConfig, LABEL, taskLabelsFrom, type ContainerConfigOptions } from './container-config.js';
import { engineMessage, isUnreachable, statusOf, toDriverError } from './docker-errors.js';
import { execInContainer } from './docker-exec.js';
import { ExitWatcher } from './exit-watcher.js';
import { demuxLogLines } from './log-frames.js';
import { buildPauseImage, PAUSE_IMAGE } from './pause-image.js';

export interface DockerDriverOptions {
  /** Unix socket of the engine. Default `/var/run/docker.sock`. */
  socketPath?: string;
  /** Host address published ports bind to. Default `0.0.0.0`. */
  hostIp?: string;
  /** MHz counted as one core when converting CPU reservations. Default 1000. */
  mhzPerCore?: number;
  /** Cap CPU with a CFS quota as well as weighting it with shares. Default false (see container-config.ts). */
  cpuHardLimit?: boolean;
  /** json-file log rotation. Defaults `10m` × 3 files. */
  logMaxSize?: string;
  logMaxFiles?: number;
  /** Image of pods' pause containers, built locally when missing. Default `karu/pause:1`. */
  pauseImage?: string;
  /** Deadline for pulling an image that is not present locally. Default 30 s. */
  pullTimeoutMs?: number;
  /** Interval of the health ping; 0 turns it off. Default 10 s. */
  healthIntervalMs?: number;
  /** Deadline of one health ping. Default 5 s. */
  pingTimeoutMs?: number;
  /** Backoff for reconnecting the events stream. Default 250 ms doubling to 10 s. */
  reconnect?: BackoffOptions;
  /** Default the system clock (timers unref'd). */
  clock?: Clock;
  /** Jitter for the reconnect backoff; none when absent. */
  rng?: Rng;
  logger?: Logger;
}

type Resolved = Required<Omit<DockerDriverOptions, 'rng' | 'logger'>> & Pick<DockerDriverOptions, 'rng' | 'logger'>;

function resolveOptions(o: DockerDriverOptions): Resolved {
  return Object.freeze({
    socketPath: o.socketPath ?? '/var/run/docker.sock',
    hostIp: o.hostIp ?? '0.0.0.0',
    mhzPerCore: o.mhzPerCore ?? 1000,
    cpuHardLimit: o.cpuHardLimit ?? false,
    logMaxSize: o.logMaxSize ?? '10m',
    logMaxFiles: o.logMaxFiles ?? 3,
    pauseImage: o.pauseImage ?? PAUSE_IMAGE,
    pullTimeoutMs: o.pullTimeoutMs ?? 30_000,
    healthIntervalMs: o.healthIntervalMs ?? 10_000,
    pingTimeoutMs: o.pingTimeoutMs ?? 5_000,
    reconnect: o.reconnect ?? { baseMs: 250, maxMs: 10_000 },
    clock: o.clock ?? systemClock,
    rng: o.rng,
    logger: o.logger,
  });
}

/** Docker reports "never" as year 1. */
function parseDockerTime(s: string | undefined): number | undefined {
  if (!s || s.startsWith('0001-')) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Runs tasks as Docker containers through the Engine API (dockerode).
 *
 * Every container carries `karu.*` labels, so `recover()` finds them after an agent
 * restart; exits arrive through one shared events stream rather than per-task polling;
 * the engine's health is watched by a periodic ping and by the events stream itself.
 */
export class DockerDriver implements Driver {
  readonly name = 'docker';
  private readonly opts: Resolved;
  private readonly docker: Dockerode;
  private readonly exits: ExitWatcher;
  private readonly listeners = new Set<(healthy: boolean, detail: string) => void>();
  private pingOk = true;
  private pingDetail = '';
  private eventsDetail: string | undefined;
  private healthy = true;
  private cancelHealthTimer: (() => void) | undefined;
  private closed = false;
  /** The pause image build in progress: concurrent pod starts wait on one build. */
  private pauseBuild: Promise<void> | undefined;

  constructor(options: DockerDriverOptions = {}) {
    this.opts = resolveOptions(options);
    this.docker = new Dockerode({ socketPath: this.opts.socketPath });
    this.exits = new ExitWatcher({
      docker: this.docker,
      clock: this.opts.clock,
      rng: this.opts.rng,
      backoff: this.opts.reconnect,
      readExit: (id) => this.readExit(id),
      onStreamHealth: (ok, detail) => {
        this.eventsDetail = ok ? undefined : detail;
        this.updateHealth(detail);
      },
      onError: (message, err) => this.opts.logger?.warn({ err }, message),
    });
    if (this.opts.healthIntervalMs > 0) this.scheduleHealthPing();
  }

  private get configOptions(): ContainerConfigOptions {
    return this.opts;
  }

  async fingerprint(): Promise<DriverFingerprint> {
    try {
      await this.ping();
      const [version, info] = (await Promise.all([this.docker.version(), this.docker.info()])) as [
        Dockerode.DockerVersion,
        { NCPU?: number; MemTotal?: number; OperatingSystem?: string },
      ];
      const attributes: Record<string, string> = {
        'docker.version': version.Version,
        'docker.api_version': version.ApiVersion,
        'os.name': version.Os,
        'kernel.version': version.KernelVersion,
        arch: version.Arch,
      };
      if (info.NCPU !== undefined) attributes['cpu.cores'] = String(info.NCPU);
      if (info.MemTotal !== undefined) attributes['memory.total_mb'] = String(Math.floor(info.MemTotal / (1024 * 1024)));
      if (info.OperatingSystem) attributes['os.distribution'] = info.OperatingSystem;
      const detail = this.eventsDetail ?? `Docker ${version.Version} (API ${version.ApiVersion})`;
      return { healthy: this.eventsDetail === undefined, detail, attributes };
    } catch (e) {
      const err = toDriverError(e, 'fingerprint', this.opts.socketPath);
      return { healthy: false, detail: err.message, attributes: {} };
    }
  }

  async start(spec: TaskSpec): Promise<TaskHandle> {
    this.assertOpen();
    const config = containerConfig(spec, this.configOptions);
    const image = config.Image!;
    let container: Dockerode.Container;
    try {
      container = await this.createPullingIfMissing(config, image, spec.kind === 'pause');
    } catch (e) {
      if (e instanceof DriverError) throw e;
      if (statusOf(e) !== 409) throw this.error(e, `create container ${spec.name}`);
      // The name is taken: most likely our own container from before an agent crash.
      const adopted = await this.adoptExisting(spec, image);
      if (adopted) return adopted;
      try {
        container = await this.docker.createContainer(config);
      } catch (e2) {
        throw this.error(e2, `create container ${spec.name}`);
      }
    }
    try {
      await container.start();
    } catch (e) {
      if (statusOf(e) !== 304) {
        // A container that could not start would only be found again by recover(): remove it.
        await container.remove({ force: true, v: true }).catch(() => undefined);
        // Docker checks the holder only now: missing is a 404, stopped a 409.
        if (spec.joinNetworkOf !== undefined && /cannot join network|is not running|no such container/i.test(engineMessage(e))) {
          const state = statusOf(e) === 404 ? 'does not exist' : 'is not running';
          throw new DriverError(`start container ${spec.name}: the container whose network it joins (${spec.joinNetworkOf.slice(0, 12)}) ${state}`, false, {
            cause: e,
          });
        }
        throw this.error(e, `start container ${spec.name}`);
      }
    }
    return { id: container.id, labels: spec.labels };
  }

  wait(handle: TaskHandle): Promise<TaskExit> {
    return this.exits.wait(handle.id);
  }

  async stop(handle: TaskHandle, timeoutMs: number): Promise<void> {
    this.assertOpen();
    try {
      // Docker sends the stop signal, waits t seconds, then SIGKILLs.
      await this.docker.getContainer(handle.id).stop({ t: Math.max(0, Math.ceil(timeoutMs / 1000)) });
    } catch (e) {
      const status = statusOf(e);
      if (status === 304 || status === 404) return; // already stopped / already gone
      throw this.error(e, `stop container ${handle.id.slice(0, 12)}`);
    }
  }

  async destroy(handle: TaskHandle): Promise<void> {
    this.assertOpen();
    try {
      await this.docker.getContainer(handle.id).remove({ force: true, v: true });
    } catch (e) {
      const status = statusOf(e);
      if (status === 404) return;
      // "removal already in progress": someone else is doing what we asked.
      if (status === 409 && /already in progress/i.test(engineMessage(e))) return;
      throw this.error(e, `remove container ${handle.id.slice(0, 12)}`);
    }
  }

  async inspect(handle: TaskHandle): Promise<TaskInspection | undefined> {
    this.assertOpen();
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(handle.id).inspect();
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw this.error(e, `inspect container ${handle.id.slice(0, 12)}`);
    }
    const exit = this.exitFromState(info.State);
    const startedAt = parseDockerTime(info.State.StartedAt);
    return {
      running: exit === undefined,
      ...(startedAt === undefined ? {} : { startedAt }),
      ...(exit === undefined ? {} : { exit }),
    };
  }

  async recover(nodeId: string): Promise<RecoveredTask[]> {
    this.assertOpen();
    let list: Dockerode.ContainerInfo[];
    try {
      list = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${nodeId}`] },
      });
    } catch (e) {
      throw this.error(e, 'list containers');
    }
    const out: RecoveredTask[] = [];
    for (const c of list) {
      const labels = taskLabelsFrom(c.Labels);
      if (!labels) continue; // ours by the filter, but damaged labels: nothing to map it to
      out.push({ handle: { id: c.Id, labels }, running: c.State === 'running' });
    }
    return out;
  }

  async *logs(handle: TaskHandle, opts: LogOptions): AsyncIterable<LogLine> {
    this.assertOpen();
    if (opts.signal?.aborted) return;
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let source: Buffer | NodeJS.ReadableStream | undefined;
    try {
      try {
        // dockerode answers a Buffer without follow and a stream with it; its types lag.
        const container = this.docker.getContainer(handle.id) as unknown as {
          logs(o: Record<string, unknown>): Promise<Buffer | NodeJS.ReadableStream>;
        };
        source = await container.logs({
          follow: opts.follow,
          stdout: true,
          stderr: true,
          timestamps: true,
          tail: opts.tail ?? 'all',
          abortSignal: abort.signal,
        });
      } catch (e) {
        if (abort.signal.aborted) return;
        if (statusOf(e) === 404) throw new DriverError(`logs: container ${handle.id.slice(0, 12)} no longer exists`, false, { cause: e });
        throw this.error(e, `logs of container ${handle.id.slice(0, 12)}`);
      }
      const chunks = Buffer.isBuffer(source) ? [source] : (source as AsyncIterable<Buffer>);
      try {
        yield* demuxLogLines(chunks, true);
      } catch (e) {
        if (abort.signal.aborted) return;
        throw this.error(e, `logs of container ${handle.id.slice(0, 12)}`);
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      abort.abort();
      if (source && !Buffer.isBuffer(source)) (source as NodeJS.ReadableStream & { destroy(): void }).destroy();
    }
  }

  onHealthChange(listener: (healthy: boolean, detail: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async exec(handle: TaskHandle, command: string[], opts: { timeoutMs: number }): Promise<ExecResult> {
    this.assertOpen();
    return execInContainer({ docker: this.docker, clock: this.opts.clock, error: (e, what) => this.error(e, what) }, handle.id, command, opts.timeoutMs);
  }

  async removeVolume(name: string): Promise<void> {
    this.assertOpen();
    try {
      await this.docker.getVolume(name).remove();
    } catch (e) {
      const status = statusOf(e);
      if (status === 404) return;
      // In use: a container of the allocation still exists (being removed, typically).
      if (status === 409) throw new DriverError(`remove volume ${name}: ${engineMessage(e)}`, true, { cause: e });
      throw this.error(e, `remove volume ${name}`);
    }
  }

  async listVolumes(nodeId: string): Promise<VolumeInfo[]> {
    this.assertOpen();
    let list: Awaited<ReturnType<Dockerode['listVolumes']>>;
    try {
      list = await this.docker.listVolumes({ filters: { label: [`${LABEL.managed}=true`, `${LABEL.node}=${nodeId}`] } });
    } catch (e) {
      throw this.error(e, 'list volumes');
    }
    const out: VolumeInfo[] = [];
    for (const v of list.Volumes ?? []) {
      const allocId = v.Labels?.[LABEL.alloc];
      if (allocId) out.push({ name: v.Name, allocId });
    }
    return out;
  }

  /**
   * Makes sure the pause image exists, building it when missing. Pod starts call this on
   * their own; an agent may call it at startup to pay the (sub-second) build early.
   */
  async ensurePauseImage(): Promise<void> {
    this.assertOpen();
    try {
      await this.docker.getImage(this.opts.pauseImage).inspect();
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw this.error(e, `inspect image ${this.opts.pauseImage}`);
    }
    await this.buildPauseImageOnce();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelHealthTimer?.();
    this.exits.close();
    this.listeners.clear();
  }

  // --- internals -------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new DriverError('docker driver is closed', false);
  }

  private error(e: unknown, what: string): DriverError {
    return toDriverError(e, what, this.opts.socketPath);
  }

  private async ping(): Promise<void> {
    const abort = new AbortController();
    const cancel = this.opts.clock.setTimer(this.opts.pingTimeoutMs, () => abort.abort());
    try {
      const docker = this.docker as unknown as { ping(o: { abortSignal: AbortSignal }): Promise<unknown> };
      await docker.ping({ abortSignal: abort.signal });
    } finally {
      cancel();
    }
  }

  private scheduleHealthPing(): void {
    this.cancelHealthTimer = this.opts.clock.setTimer(this.opts.healthIntervalMs, () => {
      void this.ping()
        .then(
          () => {
            this.pingOk = true;
            this.pingDetail = 'docker engine answered ping';
          },
          (e: unknown) => {
            this.pingOk = false;
            this.pingDetail = this.error(e, 'health ping').message;
          },
        )
        .then(() => {
          if (this.closed) return;
          this.updateHealth(this.pingDetail);
          this.scheduleHealthPing();
        });
    });
  }

  /** Healthy = the last ping answered and the events stream (when in use) is connected. */
  private updateHealth(detail: string): void {
    const healthy = this.pingOk && this.eventsDetail === undefined;
    if (healthy === this.healthy) return;
    this.healthy = healthy;
    const why = healthy ? detail : (this.eventsDetail ?? this.pingDetail);
    for (const l of this.listeners) l(healthy, why);
  }

  /**
   * Creates the container; only when the engine says the image is missing does it pull
   * and try again. (Checking the image first would cost a round trip on every start.)
   */
  private async createPullingIfMissing(config: Dockerode.ContainerCreateOptions, image: string, pause: boolean): Promise<Dockerode.Container> {
    try {
      return await this.docker.createContainer(config);
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      // 404 is also "no such container" for the one whose network it would join.
      if (config.HostConfig?.NetworkMode?.startsWith('container:') && !/no such image/i.test(engineMessage(e))) {
        throw new DriverError(`create container ${config.name}: the container whose network it joins does not exist: ${engineMessage(e)}`, false, {
          cause: e,
        });
      }
    }
    if (pause) await this.buildPauseImageOnce();
    else await this.ensureImage(image);
    return this.docker.createContainer(config);
  }

  /** Builds the pause image; callers arriving during a build wait for that one. */
  private buildPauseImageOnce(): Promise<void> {
    const image = this.opts.pauseImage;
    const startedAt = this.opts.clock.now();
    this.pauseBuild ??= buildPauseImage(this.docker, image)
      .then(
        () => this.opts.logger?.info({ image, ms: this.opts.clock.now() - startedAt }, 'built the pause image'),
        (e: unknown) => {
          throw this.error(e, `build image ${image}`);
        },
      )
      .finally(() => {
        this.pauseBuild = undefined;
      });
    return this.pauseBuild;
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw this.error(e, `inspect image ${image}`);
    }
    try {
      await this.pull(image);
    } catch (e) {
      if (isUnreachable(e)) throw this.error(e, `pull image ${image}`);
      throw new DriverError(`image ${image} not found locally and could not be pulled: ${engineMessage(e)}`, false, { cause: e });
    }
  }

  private async pull(image: string): Promise<void> {
    const abort = new AbortController();
    const cancel = this.opts.clock.setTimer(this.opts.pullTimeoutMs, () =>
      abort.abort(new Error(`pull did not finish within ${this.opts.pullTimeoutMs} ms`)),
    );
    try {
      const stream = await this.docker.pull(image, { abortSignal: abort.signal });
      // The engine reports pull failures inside the progress stream, with HTTP 200.
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
          const failed = output?.find((o) => o.error);
          if (err) reject(err);
          else if (failed) reject(new Error(failed.error));
          else resolve();
        });
      });
    } catch (e) {
      if (abort.signal.aborted) throw abort.signal.reason;
      throw e;
    } finally {
      cancel();
    }
  }

  /**
   * Settles a name conflict. Our own running container for the same task and image (the
   * agent crashed after starting it but before recording it) is adopted; our own stopped
   * one is replaced; anything else keeps the name and fails the start.
   */
  private async adoptExisting(spec: TaskSpec, image: string): Promise<TaskHandle | undefined> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(spec.name).inspect();
    } catch (e) {
      if (statusOf(e) === 404) return undefined; // removed meanwhile: create again
      throw this.error(e, `inspect container ${spec.name}`);
    }
    const labels = taskLabelsFrom(info.Config.Labels);
    const same =
      labels !== undefined &&
      labels.nodeId === spec.labels.nodeId &&
      labels.allocId === spec.labels.allocId &&
      labels.task === spec.labels.task;
    if (!same) {
      throw new DriverError(
        `container name ${spec.name} is taken by container ${info.Id.slice(0, 12)}, which is not this task's; remove it or rename the task`,
        false,
      );
    }
    if (info.State.Running && info.Config.Image === image) return { id: info.Id, labels: spec.labels };
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (e) {
      if (statusOf(e) !== 404) throw this.error(e, `replace container ${spec.name}`);
    }
    return undefined;
  }

  private async readExit(id: string): Promise<TaskExit | undefined> {
    let info: Dockerode.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      return {
        exitCode: -1,
        signaled: false,
        oomKilled: false,
        finishedAt: this.opts.clock.now(),
        error: `container ${id.slice(0, 12)} disappeared (removed outside Karu?)`,
      };
    }
    return this.exitFromState(info.State);
  }

  /**
   * The exit recorded in a container's state, or undefined while it runs. A container that
   * was created but never started counts as exited, so nobody waits on it forever.
   * `signaled`: exit codes 129–192 are 128 + signal, as both the shell and Docker's init report.
   */
  private exitFromState(s: Dockerode.ContainerInspectInfo['State']): TaskExit | undefined {
    if (s.Running || s.Restarting || s.Paused) return undefined;
    const exit: TaskExit = {
      exitCode: s.ExitCode,
      signaled: s.OOMKilled || (s.ExitCode > 128 && s.ExitCode <= 192),
      oomKilled: s.OOMKilled,
      finishedAt: parseDockerTime(s.FinishedAt) ?? this.opts.clock.now(),
    };
    if (s.Error) exit.error = s.Error;
    else if (s.Status === 'created') exit.error = 'container was created but never started';
    else if (s.OOMKilled) exit.error = 'killed by the kernel: out of memory';
    return exit;
  }
}
