import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Group, Job, JobType } from '../core/job.js';
import type { Node, DriverHealth } from '../core/node.js';
import type { AllocStatus, AllocView, ClientStatus } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { Resources } from '../core/resources.js';
import type { NodeUtilisation, RebalanceMove } from '../core/rebalance.js';

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
  /** Node pool; absent = `default`. */
  pool?: string;
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
  /** The server's service range (VIPs; its first address is every node's DNS). Absent from older servers: use DEFAULT_SERVICE_CIDR. */
  serviceCidr?: string;
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
  /**
   * Present when the agent asked with `delta=true` and the server could answer so: then
   * `allocations` are only those added or changed since the `index` asked with, and
   * `removed` those no longer on the list; every other allocation is as the agent had it.
   * Absent: the whole list (always so for agents that do not ask).
   */
  delta?: true;
  removed?: AllocId[];
}
export interface NodeAllocation {
  alloc: AllocView;
  /** The group's spec at the allocation's job version. */
  group: Group;
  jobType: JobType;
}

/**
 * The same answer on the wire when the agent asks with `groups=shared`: each distinct group
 * spec once, allocations pointing at it by position. A node running 200 allocations of one
 * group got its spec 200 times on every wake (issue 5: the agents' lists were 15 % of the
 * server's CPU at scale). KaruClient.nodeAllocations asks for it and expands it back.
 */
export interface SharedGroupsNodeAllocationsResponse {
  index: number;
  groups: Group[];
  allocations: { alloc: AllocView; groupRef: number; jobType: JobType }[];
  delta?: true;
  removed?: AllocId[];
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

// ---- cluster security (mutual TLS)

/**
 * POST /v1/join (no client certificate needed): the join token's id and secret, and a CSR
 * for a key the agent made and keeps. The agent checks the CA's fingerprint from the token
 * before it sends this.
 */
export interface JoinRequest {
  tokenId: string;
  secret: string;
  /** PEM PKCS#10 request (ECDSA P-256). */
  csr: string;
  /** Node name, for the server's log. */
  name: string;
}
export interface JoinResponse {
  /** The identity the server chose; the certificate names it. */
  nodeId: NodeId;
  /** PEM node certificate (client and server auth). */
  certificate: string;
  /** PEM cluster CA. */
  caCertificate: string;
}

/** POST /v1/nodes/:id/renew (mutual TLS as that node): a CSR for a fresh key → a new certificate. */
export interface RenewCertRequest {
  csr: string;
}
export type RenewCertResponse = Omit<JoinResponse, 'nodeId'>;

/** POST /v1/acl/join-token/rotate: the new token; the old one no longer joins anybody. */
export interface RotateJoinTokenResponse {
  token: string;
  caFingerprint: string;
  /** `karu agent --join https://ADVERTISE:PORT --token TOKEN`. */
  joinCommand: string;
}

/** DELETE /v1/nodes/:id: the node's certificate is revoked and its allocations are replaced. */
export interface RemoveNodeResponse {
  nodeId: NodeId;
  evalIds: EvalId[];
}

/** POST /v1/nodes/:id/eligibility */
export interface NodeEligibilityRequest {
  eligible: boolean;
}

/** POST /v1/nodes/:id/drain — `enable: false` cancels a drain. */
export interface DrainNodeRequest {
  enable: boolean;
  /** From now until whatever is left is stopped at once; default 1 h. */
  deadlineMs?: number;
  ignoreSystem?: boolean;
}

/** How far a node's drain has come (in GET /v1/nodes/:id and the drain answer). */
export interface DrainProgress {
  startedAt: number;
  deadlineAt: number;
  /** Allocations still meant to run on the node. */
  left: number;
  /** Of those, being moved now (a replacement placed or being placed). */
  migrating: number;
  /** Of those, batch work left to finish before the deadline. */
  batch: number;
  /** Of those, node-local: they stay until the deadline, then are stopped (lost by drain). */
  notMovable: { allocId: AllocId; name: string; why: string }[];
}

/** GET /v1/nodes/:id: the node view with its drain's progress while it drains. */
export interface NodeDetail extends NodeView {
  drainProgress?: DrainProgress;
}

/** POST /v1/rebalance */
export interface RebalanceRequest {
  /** Only plan (`karu rebalance --plan`). */
  dryRun?: boolean;
  /** Moves in flight at once; default 1. */
  maxParallel?: number;
  /** Only this job's allocations. */
  job?: string;
  namespace?: string;
}

export interface RebalanceResponse {
  dryRun: boolean;
  /** Present when the moves were recorded: they run make-before-break, `maxParallel` at a time. */
  batchId?: string;
  moves: RebalanceMove[];
  before: NodeUtilisation[];
  after: NodeUtilisation[];
  imbalanceBefore: number;
  imbalanceAfter: number;
  notMovable: { allocId: AllocId; name: string; nodeName: string; why: string }[];
}

export type { NodeUtilisation, RebalanceMove };
