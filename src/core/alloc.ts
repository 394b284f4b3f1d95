import type { AllocId, EvalId, NodeId } from './ids.js';
import type { Resources } from './resources.js';
import type { CheckResult } from './service.js';

/**
 * One copy of a group placed on one node. Split in two records so that each side
 * writes only its own (ARCHITECTURE invariant 5): the server writes `Allocation`
 * (placement and desired status), the agent writes `AllocStatus` (what it observed).
 */
export interface Allocation {
  id: AllocId;
  namespace: string;
  jobName: string;
  jobVersion: number;
  group: string;
  /** Index within the group, 0..count-1: `web.api[2]`. */
  index: number;
  nodeId: NodeId;
  nodeName: string;
  evalId: EvalId;
  resources: Resources;
  ports: AllocatedPort[];
  desiredStatus: DesiredStatus;
  desiredDescription: string;
  /** The allocation this one replaces (node lost, failure, new version). */
  previousAllocId?: AllocId;
  /** Replacements placed in this chain, for the reschedule policy: times they were made. */
  rescheduleTimes: number[];
  /** Set by the drainer or a rebalance, read by the scheduler: move this allocation make-before-break. */
  migrate?: MigrateRequest;
  /** Set when the scheduler stopped this allocation to make room for a higher-priority job. */
  preemptedBy?: Preemption;
  createdAt: number;
  modifiedAt: number;
}

export type DesiredStatus = 'run' | 'stop';

/**
 * A request to move an allocation to another node (drain, rebalance). The scheduler
 * places a replacement (same index, `previousAllocId` = this one) and stops this one only
 * once the replacement runs, unless `force` (a drain deadline passed).
 */
export interface MigrateRequest {
  reason: 'drain' | 'rebalance';
  requestedAt: number;
  /** False while the move waits its turn (rebalance moves beyond max-parallel): the scheduler ignores it. */
  started: boolean;
  /** Stop now, without waiting for the replacement. */
  force?: boolean;
  /** Where the replacement must go (rebalance); absent: wherever the scheduler ranks best. */
  targetNodeId?: NodeId;
  /** Rebalance: the request this move belongs to and how many of its moves may run at once. */
  batch?: { id: string; maxParallel: number };
  /** The evaluation written when the move started: once it is done without a replacement, the move failed. */
  evalId?: EvalId;
  /** One line for people: "node n1 is draining", "rebalance: n1 → n2". */
  why: string;
}

/** Set on an allocation stopped to make room for a higher-priority one. */
export interface Preemption {
  byAllocId: AllocId;
  byJob: string;
  byPriority: number;
  at: number;
}

export interface AllocatedPort {
  task: string;
  label: string;
  /** Host port on the node. */
  host: number;
  /** Port inside the container. */
  to: number;
}

/** Written by the agent only. */
export interface AllocStatus {
  id: AllocId;
  nodeId: NodeId;
  clientStatus: ClientStatus;
  clientDescription: string;
  taskStates: Record<string, TaskState>;
  /** Per service name of the group: its checks' last verdict. Absent until checks ran (or none declared). */
  checks?: Record<string, CheckResult>;
  updatedAt: number;
}

export type ClientStatus = 'pending' | 'running' | 'complete' | 'failed' | 'lost';

/** Task states in order: progress is a comparison (`TASK_STATE_ORDER[a] >= TASK_STATE_ORDER[b]`). */
export type TaskStateName = 'pending' | 'starting' | 'running' | 'dead';
export const TASK_STATE_ORDER: Record<TaskStateName, number> = { pending: 0, starting: 100, running: 200, dead: 300 };

export interface TaskState {
  state: TaskStateName;
  /** True once the task died in a way the restart policy gave up on. */
  failed: boolean;
  restarts: number;
  containerId?: string;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  /** Most recent last; capped by the agent (oldest dropped). */
  events: TaskEvent[];
}

export type TaskEventType =
  | 'received'
  | 'driver-failure'
  | 'started'
  | 'terminated'
  | 'restarting'
  | 'not-restarting'
  | 'killing'
  | 'killed'
  | 'reattached';

export interface TaskEvent {
  type: TaskEventType;
  time: number;
  message: string;
  exitCode?: number;
}

export const MAX_TASK_EVENTS = 20;

/** An allocation together with what its agent last reported: what the API serves. */
export interface AllocView extends Allocation {
  clientStatus: ClientStatus;
  clientDescription: string;
  taskStates: Record<string, TaskState>;
  checks?: Record<string, CheckResult>;
}

/** The task states of an allocation its agent has not reported on: one shared, frozen object. */
export const NO_TASK_STATES: Record<string, TaskState> = Object.freeze({});

/** What a view takes from its status: the fields the agent reports. */
export type AllocStatusHalf = Pick<AllocStatus, 'clientStatus' | 'clientDescription' | 'taskStates' | 'checks'>;

export function viewOf(alloc: Allocation, status: AllocStatus | AllocStatusHalf | undefined): AllocView {
  return {
    id: alloc.id, // first, whatever order the record's fields came in (decoded records get theirs last)
    ...(alloc as Omit<Allocation, 'id'>),
    clientStatus: status?.clientStatus ?? 'pending',
    clientDescription: status?.clientDescription ?? '',
    taskStates: status?.taskStates ?? NO_TASK_STATES,
    ...(status?.checks ? { checks: status.checks } : {}),
  };
}

/** The agent has nothing more to do with it: it will never run again. */
export function isClientTerminal(s: ClientStatus): boolean {
  return s === 'complete' || s === 'failed' || s === 'lost';
}

/** Still holding (or about to hold) resources on its node. */
export function isLive(a: AllocView): boolean {
  return !isClientTerminal(a.clientStatus) && !(a.desiredStatus === 'stop' && a.clientStatus === 'pending' && Object.keys(a.taskStates).length === 0);
}

export const allocName = (a: Pick<Allocation, 'jobName' | 'group' | 'index'>) => `${a.jobName}.${a.group}[${a.index}]`;
