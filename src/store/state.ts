import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Allocation, AllocStatus, AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';

/**
 * Karu's objects in the store: key layout and typed records. Values are JSON.
 *
 *   /jobs/{ns}/{name}                  current Job
 *   /job-versions/{ns}/{name}/{v:8}    every submitted version of a Job
 *   /allocs/{allocId}                  Allocation (server-written)
 *   /alloc-status/{allocId}            AllocStatus (agent-written)
 *   /nodes/{nodeId}                    Node
 *   /node-secrets/{nodeId}             hash of the node's secret
 *   /evals/{evalId}                    Evaluation
 *   /pki/ca                            the cluster CA: certificate and private key (PEM)
 *   /pki/join-tokens/{id}              the current join token(s)
 *   /pki/revoked/{nodeId}              NodeRevocation: the node was removed; its certificate is refused
 *   /service-vips/{ns}/{name}          ServiceVip: the VIP a service holds (catalog-vips.ts)
 */
export const keys = {
  job: (ns: string, name: string) => `/jobs/${ns}/${name}`,
  jobVersion: (ns: string, name: string, v: number) => `/job-versions/${ns}/${name}/${String(v).padStart(8, '0')}`,
  jobVersions: (ns: string, name: string) => `/job-versions/${ns}/${name}/`,
  alloc: (id: AllocId) => `/allocs/${id}`,
  allocStatus: (id: AllocId) => `/alloc-status/${id}`,
  node: (id: NodeId) => `/nodes/${id}`,
  nodeSecret: (id: NodeId) => `/node-secrets/${id}`,
  eval: (id: EvalId) => `/evals/${id}`,
  pkiCa: '/pki/ca',
  joinToken: (id: string) => `/pki/join-tokens/${id}`,
  nodeRevoked: (id: NodeId) => `/pki/revoked/${id}`,
  serviceVip: (ns: string, name: string) => `/service-vips/${ns}/${name}`,
} as const;

export const prefixes = {
  jobs: '/jobs/',
  jobVersions: '/job-versions/',
  allocs: '/allocs/',
  allocStatus: '/alloc-status/',
  nodes: '/nodes/',
  nodeSecrets: '/node-secrets/',
  evals: '/evals/',
  joinTokens: '/pki/join-tokens/',
  revokedNodes: '/pki/revoked/',
  serviceVips: '/service-vips/',
} as const;

/** Why a node's certificate (and secret) are no longer accepted: `karu node rm`. */
export interface NodeRevocation {
  nodeId: NodeId;
  revokedAt: number;
}

/** The virtual IP a service (namespace/name) holds while some job declares it. */
export interface ServiceVip {
  namespace: string;
  name: string;
  vip: string;
  allocatedAt: number;
}

/** A record with the store revision that last wrote it (for compare-and-swap). */
export interface Versioned<T> {
  value: T;
  modRevision: number;
}

/** A typed write. `expectedModRevision`: 0 = must not exist, N = must be at N, absent = blind. */
export type StateWrite = (
  | { kind: 'job'; value: Job }
  | { kind: 'jobVersion'; value: Job }
  | { kind: 'alloc'; value: Allocation }
  | { kind: 'allocStatus'; value: AllocStatus }
  | { kind: 'node'; value: Node }
  | { kind: 'nodeSecret'; nodeId: NodeId; value: string }
  | { kind: 'nodeRevoked'; value: NodeRevocation }
  | { kind: 'eval'; value: Evaluation }
  | { kind: 'serviceVip'; value: ServiceVip }
) & { expectedModRevision?: number };

export type StateDelete =
  | { kind: 'job'; namespace: string; name: string; expectedModRevision?: number }
  | { kind: 'jobVersions'; namespace: string; name: string }
  | { kind: 'alloc'; id: AllocId }
  | { kind: 'allocStatus'; id: AllocId }
  | { kind: 'node'; id: NodeId }
  | { kind: 'eval'; id: EvalId }
  | { kind: 'serviceVip'; namespace: string; name: string };

/**
 * What the live allocations on one node hold, kept up to date by the read model as
 * allocations and their statuses change. Structurally the scheduler's `NodeUsageSnapshot`
 * (scheduler/types.ts). The object is live: it changes as the cache applies changes, so
 * read it synchronously and do not keep it.
 */
export interface NodeLoad {
  readonly cpuMhz: number;
  readonly memoryMb: number;
  /** Host ports held by live allocations. */
  readonly ports: ReadonlySet<number>;
  /** Live allocations per `namespace/job/group`. */
  readonly groups: ReadonlyMap<string, number>;
}

/** A change seen by the read model, one per key changed. */
export type StateChange =
  | { type: 'job'; key: string; before?: Job; after?: Job }
  | { type: 'alloc'; key: string; before?: AllocView; after?: AllocView }
  | { type: 'node'; key: string; before?: Node; after?: Node }
  | { type: 'eval'; key: string; before?: Evaluation; after?: Evaluation };

/**
 * Typed access to the store: the control plane writes through this, never raw keys.
 * Reads go to the database; hot paths read the StateCache instead.
 */
export interface StateStore {
  getJob(namespace: string, name: string): Promise<Versioned<Job> | undefined>;
  listJobVersions(namespace: string, name: string): Promise<Job[]>;
  getNode(id: NodeId): Promise<Versioned<Node> | undefined>;
  getNodeSecret(id: NodeId): Promise<string | undefined>;
  /** Set once the node was removed (`karu node rm`); it may not come back under that id. */
  getNodeRevocation(id: NodeId): Promise<NodeRevocation | undefined>;
  getAlloc(id: AllocId): Promise<Versioned<Allocation> | undefined>;
  getAllocStatus(id: AllocId): Promise<Versioned<AllocStatus> | undefined>;
  getEval(id: EvalId): Promise<Versioned<Evaluation> | undefined>;
  /** Every service's VIP (not in the read model: only the catalog's VIP controller reads them, once at start). */
  listServiceVips(): Promise<Versioned<ServiceVip>[]>;
  /** Applies every write and delete atomically; ConflictError when an expectation fails. */
  commit(writes: StateWrite[], deletes?: StateDelete[]): Promise<number>;
}

/**
 * The leader's in-memory read model, fed by one watch on the store (watch first, then
 * list, so no change is missed). Readers get consistent, indexed views without touching
 * the database; `waitFor(revision)` makes read-your-writes possible after a commit.
 * Returned objects are shared: never mutate them.
 */
export interface StateCache {
  /** Revision of the last change applied. */
  readonly revision: number;
  job(namespace: string, name: string): Job | undefined;
  jobs(namespace?: string): Job[];
  node(id: NodeId): Node | undefined;
  nodes(): Node[];
  alloc(id: AllocId): AllocView | undefined;
  allocs(): AllocView[];
  allocsByNode(nodeId: NodeId): AllocView[];
  allocsByJob(namespace: string, name: string): AllocView[];
  /** What the live allocations on `nodeId` hold; O(1). Live object: see NodeLoad. Optional so test fakes need not keep it. */
  nodeUsage?(nodeId: NodeId): NodeLoad;
  eval(id: EvalId): Evaluation | undefined;
  evals(filter?: { namespace?: string; jobName?: string }): Evaluation[];
  /** Resolves once the cache has applied `revision` (or rejects after `timeoutMs`, default 5 s). */
  waitFor(revision: number, timeoutMs?: number): Promise<void>;
  /** Called after each applied batch with what changed, in order. */
  subscribe(listener: (changes: StateChange[], revision: number) => void): () => void;
}
