import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Group, Job, JobType } from '../core/job.js';
import type { Node, DriverHealth } from '../core/node.js';
import type { AllocStatus, AllocView, ClientStatus } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { Resources } from '../core/resources.js';

/**
 * The wire contract of API v1: request and response bodies. The server's routes
 * (src/api) and the client (./client.ts) are both typed by these.
 */

/** POST /v1/jobs — `job` is a job spec as the job file has it (validated by the server). */
export interface RegisterJobRequest {
  job: unknown;
}
export interface RegisterJobResponse {
  job: Job;
  /** `unchanged` when the spec equals the current version (no new version, no evaluation). */
  result: 'created' | 'updated' | 'unchanged';
  evalId?: EvalId;
}

export interface JobListEntry {
  namespace: string;
  name: string;
  type: JobType;
  version: number;
  stopped: boolean;
  status: JobStatus;
  summary: AllocSummary;
  submittedAt: number;
}

/** pending: nothing running yet; running: something running; dead: stopped or all terminal. */
export type JobStatus = 'pending' | 'running' | 'dead';

/** Counts of the job's allocations by client status (desired `run` only for pending/running). */
export type AllocSummary = Record<ClientStatus, number> & { desired: number };

export interface JobDetail {
  job: Job;
  status: JobStatus;
  summary: AllocSummary;
  allocations: AllocView[];
  /** Newest first. */
  evaluations: Evaluation[];
}

export interface StopJobResponse {
  evalId?: EvalId;
  purged: boolean;
}

/** POST /v1/nodes/register */
export interface RegisterNodeRequest {
  /** Present when the agent re-registers with the identity it was given before. */
  nodeId?: NodeId;
  secret?: string;
  name: string;
  address: string;
  /** URL of the agent's own HTTP API (logs), reached by the server. */
  agentUrl: string;
  resources: Resources;
  attributes: Record<string, string>;
  labels: Record<string, string>;
  drivers: Record<string, DriverHealth>;
  portRange?: { min: number; max: number };
}
export interface RegisterNodeResponse {
  nodeId: NodeId;
  /** The node's secret: sent back on every agent call (X-Karu-Node-Secret). */
  secret: string;
  heartbeatTtlMs: number;
  /** What the server presents to the agent's API (X-Karu-Server-Token). */
  serverToken: string;
}

/** POST /v1/nodes/:id/heartbeat */
export interface HeartbeatRequest {
  drivers?: Record<string, DriverHealth>;
}
export interface HeartbeatResponse {
  heartbeatTtlMs: number;
}

/** GET /v1/nodes/:id/allocations?index=N&waitMs=M — a blocking query. */
export interface NodeAllocationsResponse {
  /** Pass back as `index` to wait for the next change. */
  index: number;
  allocations: NodeAllocation[];
}
export interface NodeAllocation {
  alloc: AllocView;
  /** The group's spec at the allocation's job version. */
  group: Group;
  jobType: JobType;
}

/** PUT /v1/nodes/:id/allocations/status */
export interface UpdateAllocStatusRequest {
  updates: AllocStatus[];
}

export interface NodeView extends Node {
  allocations: { running: number; total: number };
  allocated: Resources;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export type { Job, Node, AllocView, Evaluation, AllocId, EvalId, NodeId };
