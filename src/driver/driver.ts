import type { Resources } from '../core/resources.js';

/**
 * A way to run tasks (the Docker Engine; a fake for tests). The agent drives it through
 * this interface only, and one suite (driver.suite.ts) runs against every implementation.
 *
 * Tasks are identified by labels on what the driver creates, so a restarted agent can
 * find its tasks again with `recover()` (ARCHITECTURE invariant 6).
 */
export interface Driver {
  readonly name: string;
  /** Facts for node attributes (`docker.version`…) and whether the driver can run tasks now. */
  fingerprint(): Promise<DriverFingerprint>;
  /**
   * Creates and starts the task. Rejects with a DriverError: `retryable` for passing
   * faults (engine unreachable), not for permanent ones (image missing and not pullable).
   */
  start(spec: TaskSpec): Promise<TaskHandle>;
  /** Resolves with the exit once the task has stopped running (immediately if it already has). */
  wait(handle: TaskHandle): Promise<TaskExit>;
  /** Asks the task to stop (SIGTERM), then kills it (SIGKILL) after `timeoutMs`. Idempotent. */
  stop(handle: TaskHandle, timeoutMs: number): Promise<void>;
  /** Removes what `start` created. Idempotent; stops first if still running. */
  destroy(handle: TaskHandle): Promise<void>;
  /** Current state, or undefined when the task no longer exists. */
  inspect(handle: TaskHandle): Promise<TaskInspection | undefined>;
  /** Every task this driver created for `nodeId` that still exists, running or not. */
  recover(nodeId: string): Promise<RecoveredTask[]>;
  /** Log lines of the task; with `follow`, keeps yielding until the task stops or `signal` aborts. */
  logs(handle: TaskHandle, opts: LogOptions): AsyncIterable<LogLine>;
  /**
   * Runs `command` inside the running task (health checks' `exec`). Resolves with the exit
   * code and the combined output (last 4 KiB); rejects with a DriverError when the task is
   * not running or `timeoutMs` passes.
   */
  exec(handle: TaskHandle, command: string[], opts: { timeoutMs: number }): Promise<ExecResult>;
  /** Removes the allocation-local volume `name` (TaskSpec.volumes). Idempotent. */
  removeVolume(name: string): Promise<void>;
  /**
   * Every allocation-local volume this driver created for `nodeId` that still exists, with
   * the allocation it belongs to, so a restarted agent can remove those of allocations it
   * no longer runs (an agent that died between removing the containers and the volumes).
   */
  listVolumes(nodeId: string): Promise<VolumeInfo[]>;
  /** Subscribes to health changes of the driver itself (engine down/up). */
  onHealthChange(listener: (healthy: boolean, detail: string) => void): () => void;
  close(): Promise<void>;
}

export interface DriverFingerprint {
  healthy: boolean;
  detail: string;
  attributes: Record<string, string>;
}

/** Labels every task carries; `recover` reads them back. */
export interface TaskLabels {
  nodeId: string;
  allocId: string;
  jobName: string;
  namespace: string;
  group: string;
  task: string;
}

export interface TaskSpec {
  labels: TaskLabels;
  /** Name for the container (unique per alloc + task). */
  name: string;
  image: string;
  command?: string;
  args: string[];
  env: Record<string, string>;
  resources: Resources;
  ports: { host: number; to: number; protocol?: 'tcp' | 'udp' }[];
  /** Host bind mounts (absolute paths, validated by the job spec). */
  mounts?: { source: string; target: string; readOnly: boolean }[];
  /**
   * `pause`: the pod's namespace holder; `image`, `command` and `args` are ignored and the
   * driver runs its own minimal pause program (building its image locally if missing, as
   * no registry may be reachable). Its labels carry `task: PAUSE_TASK` (core/service.ts).
   * Default `task`.
   */
  kind?: 'task' | 'pause';
  /**
   * Join the network namespace of the task (the pod's pause container) with this handle
   * id instead of getting one. `ports` must then be empty: the pause container publishes
   * the pod's ports.
   */
  joinNetworkOf?: string;
  /** Allocation-local named volumes (created on first use, removed by `removeVolume`). */
  volumes?: { name: string; target: string; readOnly: boolean }[];
  /** Resolver configuration inside the container (the node's Karu DNS). Absent: the engine's default. */
  dns?: { servers: string[]; search: string[] };
}

/** An allocation-local volume found by `listVolumes`. */
export interface VolumeInfo {
  name: string;
  allocId: string;
}

export interface ExecResult {
  exitCode: number;
  output: string;
}

export interface TaskHandle {
  /** Driver-specific id (a container id for Docker). */
  id: string;
  labels: TaskLabels;
}

export interface TaskExit {
  exitCode: number;
  /** True when killed by a signal (including our own stop) or OOM. */
  signaled: boolean;
  oomKilled: boolean;
  finishedAt: number;
  error?: string;
}

export interface TaskInspection {
  running: boolean;
  startedAt?: number;
  exit?: TaskExit;
}

export interface RecoveredTask {
  handle: TaskHandle;
  running: boolean;
}

export interface LogOptions {
  follow: boolean;
  /** Last N lines; all when absent. */
  tail?: number;
  signal?: AbortSignal;
}

export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
  time?: number;
}

export class DriverError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}
