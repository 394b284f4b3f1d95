import type { AllocStatus, AllocView } from '../../core/alloc.js';
import { KaruError, NotFoundError } from '../../core/errors.js';
import type { Evaluation } from '../../core/evaluation.js';
import type { AllocId, EvalId, NodeId } from '../../core/ids.js';
import type { Job } from '../../core/job.js';
import type { DriverHealth, Node } from '../../core/node.js';
import { DEFAULT_SERVICE_CIDR, type Catalog, type CatalogService } from '../../core/service.js';
import { FakeClock } from '../../lib/clock.js';
import type { StateCache, StateChange } from '../../store/state.js';
import type { ControlPlane, NodeRegistration } from '../../controllers/control-plane.js';
import type { DrainRequest, RebalanceRequest, RebalanceResult } from '../../controllers/node-admin.js';

/**
 * Test doubles for the API's tests: an in-memory read model and a control plane with
 * just enough behaviour to answer like the real one. The API is what is under test;
 * these only hold state and record calls.
 */

export class FakeStateCache implements StateCache {
  revision = 1;
  readonly jobMap = new Map<string, Job>();
  readonly nodeMap = new Map<NodeId, Node>();
  readonly allocMap = new Map<AllocId, AllocView>();
  readonly evalMap = new Map<EvalId, Evaluation>();
  private listeners = new Set<(changes: StateChange[], revision: number) => void>();

  putJob(job: Job): void {
    this.jobMap.set(`${job.namespace}/${job.name}`, job);
    this.revision++;
  }
  putNode(node: Node): void {
    this.nodeMap.set(node.id, node);
    this.revision++;
  }
  putAlloc(alloc: AllocView): void {
    const before = this.allocMap.get(alloc.id);
    this.allocMap.set(alloc.id, alloc);
    this.revision++;
    for (const l of this.listeners) l([{ type: 'alloc', key: alloc.id, before, after: alloc }], this.revision);
  }
  putEval(ev: Evaluation): void {
    this.evalMap.set(ev.id, ev);
    this.revision++;
  }

  job(namespace: string, name: string): Job | undefined {
    return this.jobMap.get(`${namespace}/${name}`);
  }
  jobs(namespace?: string): Job[] {
    return [...this.jobMap.values()].filter((j) => !namespace || j.namespace === namespace);
  }
  node(id: NodeId): Node | undefined {
    return this.nodeMap.get(id);
  }
  nodes(): Node[] {
    return [...this.nodeMap.values()];
  }
  alloc(id: AllocId): AllocView | undefined {
    return this.allocMap.get(id);
  }
  allocs(): AllocView[] {
    return [...this.allocMap.values()];
  }
  allocsByNode(nodeId: NodeId): AllocView[] {
    return this.allocs().filter((a) => a.nodeId === nodeId);
  }
  allocsByJob(namespace: string, name: string): AllocView[] {
    return this.allocs().filter((a) => a.namespace === namespace && a.jobName === name);
  }
  eval(id: EvalId): Evaluation | undefined {
    return this.evalMap.get(id);
  }
  evals(filter: { namespace?: string; jobName?: string } = {}): Evaluation[] {
    return [...this.evalMap.values()].filter((e) => (!filter.namespace || e.namespace === filter.namespace) && (!filter.jobName || e.jobName === filter.jobName));
  }
  async waitFor(): Promise<void> {}
  subscribe(listener: (changes: StateChange[], revision: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export class FakeControlPlane implements ControlPlane {
  readonly state = new FakeStateCache();
  readonly clock = new FakeClock();
  readonly versions = new Map<string, Job[]>();
  readonly secrets = new Map<NodeId, string>();
  readonly endpoints = new Map<NodeId, { url: string; token: string }>();
  readonly calls = {
    registerJob: [] as Job[],
    stopJob: [] as { namespace: string; name: string; purge: boolean }[],
    registerNode: [] as NodeRegistration[],
    heartbeat: [] as { nodeId: NodeId; drivers?: Record<string, DriverHealth> }[],
    updateAllocStatus: [] as { nodeId: NodeId; updates: AllocStatus[] }[],
    waitForNodeAllocs: [] as { nodeId: NodeId; index: number; waitMs: number }[],
    nodeAllocChanges: [] as { nodeId: NodeId; since: number }[],
    waitForCatalog: [] as { index: number; waitMs: number }[],
  };
  private readonly nodeIndex = new Map<NodeId, number>();
  private readonly waiters = new Map<NodeId, Set<() => void>>();
  private nextNode = 1;

  async registerJob(input: Job): Promise<{ job: Job; result: 'created' | 'updated' | 'unchanged'; evalId?: EvalId }> {
    this.calls.registerJob.push(input);
    const current = this.state.job(input.namespace, input.name);
    const version = current ? current.version + 1 : 1;
    const job = { ...input, version, stopped: false, submittedAt: this.clock.now() };
    this.state.putJob(job);
    this.addVersion(job);
    return { job, result: current ? 'updated' : 'created', evalId: `eval_fake${version}` as EvalId };
  }

  async stopJob(namespace: string, name: string, opts: { purge: boolean }): Promise<{ evalId?: EvalId; purged: boolean }> {
    this.calls.stopJob.push({ namespace, name, purge: opts.purge });
    const job = this.state.job(namespace, name);
    if (!job) throw new NotFoundError('job', `${namespace}/${name}`);
    this.state.putJob({ ...job, stopped: true });
    return { evalId: 'eval_stop' as EvalId, purged: opts.purge };
  }

  async listJobVersions(namespace: string, name: string): Promise<Job[]> {
    return [...(this.versions.get(`${namespace}/${name}`) ?? [])];
  }

  addVersion(job: Job): void {
    const key = `${job.namespace}/${job.name}`;
    this.versions.set(key, [...(this.versions.get(key) ?? []), job]);
  }

  async registerNode(req: NodeRegistration): Promise<{ node: Node; secret: string; heartbeatTtlMs: number; serverToken: string; serviceCidr: string }> {
    this.calls.registerNode.push(req);
    if (req.nodeId && this.secrets.get(req.nodeId) !== req.secret) throw new KaruError('UNAUTHORIZED', `wrong secret for node ${req.nodeId}`);
    const id = req.nodeId ?? (`node_01hyregistered${String(this.nextNode++).padStart(11, '0')}` as NodeId);
    const secret = req.secret ?? `secret-of-${id}`;
    const node = aNode({ id, name: req.name, address: req.address, agentUrl: req.agentUrl, resources: req.resources, drivers: req.drivers });
    this.state.putNode(node);
    this.secrets.set(id, secret);
    return { node, secret, heartbeatTtlMs: 10_000, serverToken: 'server-token', serviceCidr: DEFAULT_SERVICE_CIDR };
  }

  async authenticateNode(nodeId: NodeId, secret: string): Promise<boolean> {
    return this.secrets.get(nodeId) === secret;
  }

  readonly revoked = new Set<NodeId>();

  async isNodeRevoked(nodeId: NodeId): Promise<boolean> {
    return this.revoked.has(nodeId);
  }

  async removeNode(nodeId: NodeId): Promise<{ evalIds: EvalId[] }> {
    const node = this.state.node(nodeId);
    if (!node) throw new NotFoundError('node', nodeId);
    this.revoked.add(nodeId);
    this.state.putNode({ ...node, status: 'down', eligibility: 'ineligible' });
    return { evalIds: [] };
  }

  async heartbeat(nodeId: NodeId, drivers?: Record<string, DriverHealth>): Promise<{ heartbeatTtlMs: number }> {
    this.calls.heartbeat.push({ nodeId, drivers });
    return { heartbeatTtlMs: 10_000 };
  }

  async updateAllocStatus(nodeId: NodeId, updates: AllocStatus[]): Promise<void> {
    this.calls.updateAllocStatus.push({ nodeId, updates });
  }

  /** Makes `nodeId`'s allocations "changed": bumps its index and wakes its waiters. */
  signalNode(nodeId: NodeId): void {
    this.nodeIndex.set(nodeId, this.state.revision);
    for (const w of this.waiters.get(nodeId) ?? []) w();
  }

  async waitForNodeAllocs(nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal): Promise<number> {
    this.calls.waitForNodeAllocs.push({ nodeId, index, waitMs });
    const current = () => this.nodeIndex.get(nodeId) ?? 1;
    if (index === 0 || current() > index) return current();
    await new Promise<void>((resolve) => {
      let set = this.waiters.get(nodeId);
      if (!set) this.waiters.set(nodeId, (set = new Set()));
      const done = () => {
        cancel();
        signal?.removeEventListener('abort', done);
        set.delete(done);
        resolve();
      };
      const cancel = this.clock.setTimer(waitMs, done);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
    return current();
  }

  /** What nodeAllocChanges answers per node (tests set it); absent: undefined, the whole list. */
  readonly allocChanges = new Map<NodeId, AllocId[]>();

  nodeAllocChanges(nodeId: NodeId, since: number): AllocId[] | undefined {
    this.calls.nodeAllocChanges.push({ nodeId, since });
    return this.allocChanges.get(nodeId);
  }

  /** How many blocking queries are parked on `nodeId` right now. */
  waiting(nodeId: NodeId): number {
    return this.waiters.get(nodeId)?.size ?? 0;
  }

  // ---- the catalog: tests set it; `setCatalog` plays a real change (index bumped, waiters woken)
  private catalogNow: Catalog = { index: 1, services: [] };
  private readonly catalogWaiters = new Set<() => void>();

  setCatalog(services: CatalogService[]): void {
    this.catalogNow = { index: this.catalogNow.index + 1, services };
    for (const w of [...this.catalogWaiters]) w();
  }

  async catalog(): Promise<Catalog> {
    return this.catalogNow;
  }

  async waitForCatalog(index: number, waitMs: number, signal?: AbortSignal): Promise<Catalog> {
    this.calls.waitForCatalog.push({ index, waitMs });
    if (index === 0 || this.catalogNow.index > index) return this.catalogNow;
    await new Promise<void>((resolve) => {
      const done = () => {
        cancel();
        signal?.removeEventListener('abort', done);
        this.catalogWaiters.delete(done);
        resolve();
      };
      const cancel = this.clock.setTimer(waitMs, done);
      signal?.addEventListener('abort', done, { once: true });
      this.catalogWaiters.add(done);
    });
    return this.catalogNow;
  }

  /** How many catalog queries are parked right now. */
  catalogWaiting(): number {
    return this.catalogWaiters.size;
  }

  agentEndpoint(nodeId: NodeId): { url: string; token: string } | undefined {
    return this.endpoints.get(nodeId);
  }

  resolveAllocId(idOrPrefix: string): AllocId | undefined {
    if (this.state.alloc(idOrPrefix as AllocId)) return idOrPrefix as AllocId;
    const matches = this.state.allocs().filter((a) => a.id.slice('alloc_'.length + 10).startsWith(idOrPrefix));
    return matches.length === 1 ? matches[0]!.id : undefined;
  }

  // ---- node admin: records the call and applies the obvious change to the node
  readonly adminCalls: { method: 'setNodeEligibility' | 'drainNode' | 'rebalance'; args: unknown[] }[] = [];
  /** What `rebalance` answers. */
  rebalancePlan: RebalanceResult['plan'] = { moves: [], before: [], after: [], imbalanceBefore: 0, imbalanceAfter: 0, notMovable: [] };

  async setNodeEligibility(nodeId: NodeId, eligible: boolean): Promise<Node> {
    this.adminCalls.push({ method: 'setNodeEligibility', args: [nodeId, eligible] });
    const node = this.state.node(nodeId);
    if (!node) throw new NotFoundError('node', nodeId);
    const next: Node = { ...node, eligibility: eligible ? 'eligible' : 'ineligible' };
    this.state.putNode(next);
    return next;
  }

  async drainNode(nodeId: NodeId, req: DrainRequest): Promise<Node> {
    this.adminCalls.push({ method: 'drainNode', args: [nodeId, req] });
    const node = this.state.node(nodeId);
    if (!node) throw new NotFoundError('node', nodeId);
    const next: Node = req.enable
      ? { ...node, drain: true, eligibility: 'ineligible', drainStrategy: { startedAt: 0, deadlineAt: req.deadlineMs, ignoreSystem: req.ignoreSystem } }
      : { ...node, drain: false, eligibility: 'eligible' };
    if (!req.enable) delete next.drainStrategy;
    this.state.putNode(next);
    return next;
  }

  async rebalance(req: RebalanceRequest): Promise<RebalanceResult> {
    this.adminCalls.push({ method: 'rebalance', args: [req] });
    return req.dryRun ? { plan: this.rebalancePlan } : { plan: this.rebalancePlan, batchId: 'rebalance_test' };
  }
}

// ---- builders

export function aJob(over: Partial<Job> = {}): Job {
  return {
    namespace: 'default',
    name: 'web',
    type: 'service',
    priority: 50,
    constraints: [],
    placement: 'binpack',
    groups: [
      {
        name: 'api',
        count: 2,
        constraints: [],
        restart: { attempts: 2, intervalMs: 60_000, delayMs: 1_000, mode: 'fail' },
        reschedule: { attempts: 1, intervalMs: 60_000 },
        tasks: [{ name: 'server', image: 'karu-test/busybox:1', args: [], env: {}, resources: { cpuMhz: 100, memoryMb: 64 }, ports: [], killTimeoutMs: 5_000 }],
      },
    ],
    meta: {},
    stopped: false,
    version: 1,
    submittedAt: 1_700_000_000_000,
    ...over,
  };
}

export function aNode(over: Partial<Node> = {}): Node {
  return {
    id: 'node_01hx0000000000000000000001' as NodeId,
    name: 'n1',
    address: '127.0.0.1',
    status: 'ready',
    statusDescription: 'ready',
    eligibility: 'eligible',
    drain: false,
    resources: { cpuMhz: 4000, memoryMb: 8192 },
    attributes: {},
    labels: {},
    drivers: { docker: { healthy: true, detail: 'ok' } },
    portRange: { min: 20000, max: 32000 },
    registeredAt: 1_700_000_000_000,
    statusUpdatedAt: 1_700_000_000_000,
    ...over,
  };
}

/** `alloc_` + 10 time chars + `random` padded to 16: tests pick the random part to shape prefixes. */
export function allocIdFor(random: string, time = '01hx000000'): AllocId {
  return `alloc_${time}${random.padEnd(16, '0')}` as AllocId;
}

export function anAlloc(over: Partial<AllocView> = {}): AllocView {
  return {
    id: allocIdFor('aaaa'),
    namespace: 'default',
    jobName: 'web',
    jobVersion: 1,
    group: 'api',
    index: 0,
    nodeId: 'node_01hx0000000000000000000001' as NodeId,
    nodeName: 'n1',
    evalId: 'eval_01hx0000000000000000000001' as EvalId,
    resources: { cpuMhz: 100, memoryMb: 64 },
    ports: [],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: 1_700_000_000_000,
    modifiedAt: 1_700_000_000_000,
    clientStatus: 'pending',
    clientDescription: '',
    taskStates: {},
    ...over,
  };
}

export function anEval(over: Partial<Evaluation> = {}): Evaluation {
  return {
    id: 'eval_01hx0000000000000000000001' as EvalId,
    namespace: 'default',
    jobName: 'web',
    triggeredBy: 'job-register',
    status: 'complete',
    statusDescription: '',
    failedPlacements: {},
    createdAt: 1_700_000_000_000,
    modifiedAt: 1_700_000_000_000,
    ...over,
  };
}
