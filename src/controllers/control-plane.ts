import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { AllocStatus } from '../core/alloc.js';
import type { DriverHealth, Node } from '../core/node.js';
import type { Resources } from '../core/resources.js';
import type { Catalog } from '../core/service.js';
import type { StateCache } from '../store/state.js';
import type { DrainRequest, RebalanceRequest, RebalanceResult } from './node-admin.js';

/**
 * What the API may ask of the control plane. Routes translate HTTP to these calls and
 * back; every rule about jobs, nodes and allocations lives behind this interface.
 */
export interface ControlPlane {
  /** The read model: every GET is answered from it. */
  readonly state: StateCache;

  /**
   * Stores a validated job. Same spec as the current version → `unchanged` (nothing written).
   * Otherwise the version is bumped, the version history appended and an evaluation created,
   * all in one transaction.
   */
  registerJob(job: Job): Promise<{ job: Job; result: 'created' | 'updated' | 'unchanged'; evalId?: EvalId }>;
  /** Marks the job stopped (its allocations are stopped by the evaluation). With purge, also deletes it and its history once nothing of it runs. */
  stopJob(namespace: string, name: string, opts: { purge: boolean }): Promise<{ evalId?: EvalId; purged: boolean }>;
  listJobVersions(namespace: string, name: string): Promise<Job[]>;

  /** `serviceCidr`: the server's service range (VIPs, DNS address), told to agents at registration. */
  registerNode(req: NodeRegistration): Promise<{ node: Node; secret: string; heartbeatTtlMs: number; serverToken: string; serviceCidr: string }>;
  /** True when `secret` is the one issued to `nodeId`. */
  authenticateNode(nodeId: NodeId, secret: string): Promise<boolean>;
  heartbeat(nodeId: NodeId, drivers?: Record<string, DriverHealth>): Promise<{ heartbeatTtlMs: number }>;
  /** True once the node was removed: its certificate and secret are refused from then on. */
  isNodeRevoked(nodeId: NodeId): Promise<boolean>;
  /**
   * `karu node rm`: revokes the node (recorded in the store), marks it down and ineligible,
   * and asks every job with allocations on it to be re-evaluated (they are replaced elsewhere).
   */
  removeNode(nodeId: NodeId): Promise<{ evalIds: EvalId[] }>;
  /** Applies what the agent observed; ignores updates for allocations not on that node. */
  updateAllocStatus(nodeId: NodeId, updates: AllocStatus[]): Promise<void>;
  /**
   * Resolves with a new index once anything about the node's allocations changed after
   * `index`, or with the current index after `waitMs`, or when `signal` aborts.
   */
  waitForNodeAllocs(nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal): Promise<number>;
  /**
   * The allocations whose entry in the node's list may have changed after `since` (an index
   * the agent was answered with and has applied), for a delta answer; undefined when only
   * the whole list can be trusted (`since` older than what the server kept, or unknown to it).
   */
  nodeAllocChanges(nodeId: NodeId, since: number): AllocId[] | undefined;
  /** The service catalog now (derived from jobs, allocations, check results and nodes; catalog.ts). */
  catalog(): Promise<Catalog>;
  /**
   * Blocking query on the catalog: at once unless `index` is the catalog's current index
   * (0, an older one, or one from before the state was replaced), else once the catalog
   * changes, or as it is after `waitMs`, or when `signal` aborts.
   */
  waitForCatalog(index: number, waitMs: number, signal?: AbortSignal): Promise<Catalog>;
  /** Where the server reaches the agent of `nodeId` for logs, and the token it presents. */
  agentEndpoint(nodeId: NodeId): { url: string; token: string } | undefined;
  /** Resolves a full allocation id or a unique prefix of its short form. */
  resolveAllocId(idOrPrefix: string): AllocId | undefined;

  /** Ineligible nodes keep their allocations but get no new ones. Refused while the node drains. */
  setNodeEligibility(nodeId: NodeId, eligible: boolean): Promise<Node>;
  /** Starts (or updates) a drain, or cancels it with `enable: false`; the drainer carries it out. */
  drainNode(nodeId: NodeId, req: DrainRequest): Promise<Node>;
  /** Plans moves that even out load and, unless `dryRun`, records them for the drainer. */
  rebalance(req: RebalanceRequest): Promise<RebalanceResult>;
}

export interface NodeRegistration {
  nodeId?: NodeId;
  secret?: string;
  name: string;
  address: string;
  agentUrl: string;
  resources: Resources;
  attributes: Record<string, string>;
  labels: Record<string, string>;
  /** Node pool; absent = `default`. */
  pool?: string;
  drivers: Record<string, DriverHealth>;
  portRange?: { min: number; max: number };
}
