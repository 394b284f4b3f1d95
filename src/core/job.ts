import type { DisconnectPolicy } from './disconnect.js';
import type { Resources } from './resources.js';

/** What the user asked for. Produced by src/spec from a job file; trusted from then on. */
export interface Job {
  namespace: string;
  name: string;
  type: JobType;
  /** 1..100, default 50. Higher goes first (and, later, may preempt lower). */
  priority: number;
  constraints: Constraint[];
  /** How to rank feasible nodes: fill nodes up (binpack, default) or even them out (spread). */
  placement: PlacementStrategy;
  /** Node pool whose nodes may run the job; undefined = `default` (see DEFAULT_NODE_POOL). */
  nodePool?: string;
  /** Soft preferences over node properties (ranking only, never filtering). Absent: none. */
  affinities?: Affinity[];
  /** Spread the job's allocations over the values of a node attribute. Absent: none. */
  spreads?: Spread[];
  groups: Group[];
  meta: Record<string, string>;
  /** Set by `karu stop`: the job stays (with its history) but nothing of it should run. */
  stopped: boolean;
  /** Set by the server: 1 for the first submission, bumped each time the spec changes (0 = not yet submitted). */
  version: number;
  submittedAt: number;
}

export type JobType = 'service' | 'batch';
export type PlacementStrategy = 'binpack' | 'spread';

/** The unit of placement: `count` copies, each an allocation with all of `tasks`. */
export interface Group {
  name: string;
  count: number;
  constraints: Constraint[];
  restart: RestartPolicy;
  reschedule: ReschedulePolicy;
  /** While the node is cut off from the server; absent = DISCONNECT_DEFAULTS (core/disconnect.ts). */
  disconnect?: DisconnectPolicy;
  tasks: Task[];
  /** How allocations move off a draining node or in a rebalance; absent: MIGRATE_DEFAULTS. */
  migrate?: MigratePolicy;
  /** Soft preferences of this group, on top of the job's. */
  affinities?: Affinity[];
  /** Spread blocks of this group, on top of the job's. */
  spreads?: Spread[];
  /**
   * Named volumes of the pod: made empty for each allocation, shared by every task that
   * mounts them (`Task.volumeMounts`), removed with the allocation. Absent: none.
   */
  volumes?: GroupVolume[];
  /** Services the group offers (catalog, DNS, VIP, ingress). Absent: none. */
  services?: Service[];
}

/** An allocation-local volume (a Docker named volume per allocation). */
export interface GroupVolume {
  /** DNS label, unique in the group; tasks mount it by this name. */
  name: string;
}

/** A task's mount of one of its group's volumes. */
export interface VolumeMount {
  volume: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly: boolean;
}

/**
 * When a task runs within its allocation (as Nomad's lifecycle block). No lifecycle: a
 * main task. `prestart`: started before the main tasks; with `sidecar` false it must run
 * to completion (exit 0) before any main task starts, with `sidecar` true it is started
 * first and kept running beside them. `poststop`: runs to completion after the main tasks
 * (and sidecars) have stopped.
 */
export interface TaskLifecycle {
  hook: 'prestart' | 'poststop';
  sidecar: boolean;
}

/**
 * A named service offered by each allocation of a group: one port (a task's port label),
 * health checks, and optionally ingress rules. Reached as `NAME` / `NAME.NAMESPACE.karu`
 * on `port.to` (the container port) through the node's VIP proxy.
 */
export interface Service {
  /** DNS label, unique within the namespace across jobs (the catalog key is namespace/name). */
  name: string;
  /** A port label of one of the group's tasks. */
  portLabel: string;
  /** The task that owns `portLabel` (filled in by the spec). */
  task: string;
  tags: string[];
  /** All must pass for the endpoint to be healthy. None: healthy while the allocation runs. */
  checks: Check[];
  /** Routes from the nodes' ingress to this service. */
  ingress: IngressRule[];
}

/** A health check, run by the agent next to the allocation. */
export type Check = HttpCheck | TcpCheck | ExecCheck;

interface CheckTiming {
  /** Time between two runs. */
  intervalMs: number;
  /** A run taking longer fails. */
  timeoutMs: number;
}

/** GET `path` on the node address + the service's host port; healthy when the status is `expectStatus`. */
export interface HttpCheck extends CheckTiming {
  type: 'http';
  path: string;
  expectStatus: number;
}

/** A TCP connect to the node address + the service's host port. */
export interface TcpCheck extends CheckTiming {
  type: 'tcp';
}

/** Runs `command` in the container of `task` (default: the service's task); healthy on exit 0. */
export interface ExecCheck extends CheckTiming {
  type: 'exec';
  task: string;
  command: string[];
}

/** How outside traffic reaches a service through the nodes' ingress. */
export type IngressRule = HttpIngressRule | TcpIngressRule;

/** HTTP (and HTTPS) on the ingress ports, by host and path prefix. */
export interface HttpIngressRule {
  kind: 'http';
  /** Host to match, lower case, no port; absent: any host. */
  host?: string;
  /** Path prefix matched on whole segments; '/' for everything. */
  pathPrefix: string;
}

/** A TCP port on ingress nodes forwarded to the service, optionally with a PROXY v1 header. */
export interface TcpIngressRule {
  kind: 'tcp';
  port: number;
  proxyProtocol: boolean;
}

/** Soft preference: nodes where the constraint holds score `weight` (-100..100, not 0) more. */
export interface Affinity {
  attribute: string;
  operator: ConstraintOperator;
  value?: string;
  weight: number;
}

/**
 * Spread allocations over the values of `attribute` (e.g. `${label.zone}`). With targets,
 * each value gets its percentage of the allocations (values not listed share the rest);
 * without, evenly. `weight` (1..100) is its strength against the other rankers.
 */
export interface Spread {
  attribute: string;
  weight: number;
  targets: { value: string; percent: number }[];
}

/**
 * Make-before-break moves (drain, rebalance): at most `maxParallel` allocations of the
 * group are being moved at once, and an old allocation is stopped only once its
 * replacement has run for `minHealthyTimeMs` (healthy, once health checks exist).
 */
export interface MigratePolicy {
  maxParallel: number;
  minHealthyTimeMs: number;
}

export const MIGRATE_DEFAULTS: Readonly<MigratePolicy> = { maxParallel: 1, minHealthyTimeMs: 0 };

/** The group's migrate policy, defaults filled in. */
export const migratePolicy = (group: Group): MigratePolicy => group.migrate ?? { ...MIGRATE_DEFAULTS };

/** Host paths the group's tasks bind-mount: data that lives on one node, so its allocations cannot move. */
export function hostPathsOf(group: Group): string[] {
  const out: string[] = [];
  for (const t of group.tasks) for (const m of t.mounts ?? []) if (!out.includes(m.source)) out.push(m.source);
  return out;
}

/** What the agent does when a task exits, on the same node. */
export interface RestartPolicy {
  /** Restarts allowed within `intervalMs`. */
  attempts: number;
  intervalMs: number;
  /** Wait before each restart. */
  delayMs: number;
  /** When attempts run out: `fail` the task, or `delay` until the interval has passed and try again. */
  mode: 'fail' | 'delay';
}

/** What the server does when an allocation fails for good: place a replacement, elsewhere if it can. */
export interface ReschedulePolicy {
  /** Replacements allowed within `intervalMs`; 0 disables rescheduling. */
  attempts: number;
  intervalMs: number;
}

export interface Task {
  name: string;
  image: string;
  /** Overrides the image entrypoint when set. */
  command?: string;
  args: string[];
  env: Record<string, string>;
  resources: Resources;
  ports: PortSpec[];
  /** Grace period between SIGTERM and SIGKILL on stop. */
  killTimeoutMs: number;
  /** Host directories bind-mounted into the container: they make the allocation node-local. */
  mounts?: Mount[];
  /** Mounts of the group's volumes. Absent: none. */
  volumeMounts?: VolumeMount[];
  /** Absent: a main task. */
  lifecycle?: TaskLifecycle;
}

/** A host bind mount; both paths absolute. */
export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** A port the task listens on. With `static`, that host port; without, one the scheduler picks. */
export interface PortSpec {
  /** Name used in `KARU_PORT_<LABEL>`; [a-z0-9_]+. */
  label: string;
  /** Port inside the container. */
  to: number;
  static?: number;
}

/**
 * `<`…`>=` compare numbers when both sides are numbers, versions when both look like
 * versions (`1.10.2` > `1.9`), text otherwise. `set_contains`: the attribute is a
 * comma-separated list holding every comma-separated item of the value.
 * `distinct_hosts` (no attribute, no value): no two allocations of the job (or group)
 * on one node. `distinct_property`: at most `value` (default 1) allocations per value
 * of the attribute.
 */
export type ConstraintOperator =
  | '='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'regexp'
  | 'is_set'
  | 'is_not_set'
  | 'set_contains'
  | 'distinct_hosts'
  | 'distinct_property';

/**
 * A rule a node must satisfy. `attribute` names a node property:
 * `${attr.NAME}` (fingerprinted: `attr.os.name`, `attr.cpu.cores`, `attr.docker.version`…),
 * `${label.NAME}` (set by the operator), `${node.name}`, `${node.id}`.
 */
export interface Constraint {
  attribute: string;
  operator: ConstraintOperator;
  value?: string;
}

/** The group's tasks that run beside each other for the allocation's life (not prestart/poststop hooks, but sidecars). */
export const isMainTask = (t: Task): boolean => t.lifecycle === undefined;

/** A group runs as a pod (a pause container holds its network) when it has more than one task. */
export const isPod = (g: Group): boolean => g.tasks.length > 1;

export const jobTotalCount = (job: Job) => job.groups.reduce((n, g) => n + g.count, 0);

/** Resources one allocation of the group needs: the sum over its tasks. */
export function groupResources(group: Group): Resources {
  let cpuMhz = 0;
  let memoryMb = 0;
  for (const t of group.tasks) {
    cpuMhz += t.resources.cpuMhz;
    memoryMb += t.resources.memoryMb;
  }
  return { cpuMhz, memoryMb };
}
