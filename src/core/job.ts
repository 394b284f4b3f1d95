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

export type ConstraintOperator = '=' | '!=' | '<' | '<=' | '>' | '>=' | 'regexp' | 'is_set' | 'is_not_set';

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
