import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isClientTerminal, type AllocStatus, type AllocView } from '../core/alloc.js';
import { KaruError, NotFoundError } from '../core/errors.js';
import { newNodeId, type AllocId, type EvalId, type NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { DriverHealth, Node } from '../core/node.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';
import type { ControlPlane, NodeRegistration } from './control-plane.js';
import { evalsForJobsOnNode, newEvaluation } from './evals.js';
import { sameIntent } from './job-spec.js';
import { assertNoJobClaimConflicts, claimsAnything } from './catalog-claims.js';
import { Semaphore } from '../lib/semaphore.js';
import type { NodeMonitor } from './node-monitor.js';
import type { ServiceCatalog } from './catalog.js';
import type { Catalog } from '../core/service.js';
import { drainNode, rebalance, setNodeEligibility, type DrainRequest, type RebalanceRequest, type RebalanceResult } from './node-admin.js';
import { returnEvals, updateNode, withStatus } from './node-status.js';

export interface ClusterDeps {
  stateStore: StateStore;
  cache: StateCache;
  monitor: NodeMonitor;
  clock: Clock;
  logger: Logger;
  /** Presented to agents' APIs; agents learn it at registration. */
  serverToken: string;
  /** The service catalog and its VIP range (catalog.ts, catalog-vips.ts). */
  catalog: ServiceCatalog;
  serviceCidr: string;
}

/** Shortest time between two answers to a node's blocking query while its allocations keep changing. */
export const NODE_WAKE_INTERVAL_MS = 250;

/**
 * Answers to blocking allocation queries per second the server is willing to give while
 * plans keep landing everywhere: the wake interval grows past NODE_WAKE_INTERVAL_MS with the
 * node count to stay under it (issue 5: at 5,000 nodes, one wake per node per 250 ms was
 * up to 20,000 answers a second, each through the router, auth and JSON).
 */
export const NODE_WAKES_PER_SECOND = 2_000;

/** Shortest time between two answers to one node's blocking query, with `nodes` in the cluster. */
export function nodeWakeIntervalMs(nodes: number): number {
  return Math.max(NODE_WAKE_INTERVAL_MS, Math.ceil((nodes / NODE_WAKES_PER_SECOND) * 1000));
}

/**
 * The control plane's front door: the rules for accepting jobs, nodes and status
 * reports, each turned into one atomic store write. It never schedules: it writes
 * evaluations, and the scheduler worker picks them up from the store.
 */
export class Cluster implements ControlPlane {
  readonly state: StateCache;
  /** Per node: the revision of the last change to its allocations' server-side fields. */
  private readonly nodeIndex = new Map<NodeId, number>();
  private readonly waiters = new Map<NodeId, Set<() => void>>();
  /** Throttled wake-ups (nodeChanged): the revision not yet shown, when each node was last woken, pending timers. */
  private readonly pendingIndex = new Map<NodeId, number>();
  private readonly lastWake = new Map<NodeId, number>();
  private readonly wakeTimers = new Map<NodeId, () => void>();
  /**
   * Per node, the allocations whose entry in its list changed (server-side fields, or on or
   * off the list) with the revision of the last such change, oldest first, from `horizon`
   * on: what a delta answer to an agent holding an older index must carry.
   */
  private readonly changeLogs = new Map<NodeId, { horizon: number; changed: Map<AllocId, number> }>();
  private readonly baseline: number;
  private readonly unsubscribe: () => void;
  /**
   * Node secrets proven recently (the secret as presented, and when), so a heartbeat costs
   * no store read and no hash: comparing with what the node sent last time is enough. Kept
   * in memory only; the process sees every secret in each request anyway.
   */
  private readonly authMemo = new Map<NodeId, { secret: string; at: number }>();
  /** Per node, the drivers object a heartbeat last brought and the stored one it matched (no JSON compare for an unchanged beat). */
  private readonly driversSeen = new Map<NodeId, { sent: Record<string, DriverHealth>; stored: Record<string, DriverHealth> }>();
  /** Nodes seen revoked (forever) and when others were last seen not revoked. */
  private readonly revoked = new Set<NodeId>();
  private readonly notRevokedAt = new Map<NodeId, number>();
  /** Held from the claim check to the commit of a job that claims names (registerJob). */
  private readonly claimsLock = new Semaphore(1);

  constructor(private readonly deps: ClusterDeps) {
    this.state = deps.cache;
    // An agent holding an index from before this server started must get an answer at once.
    this.baseline = deps.cache.revision;
    this.unsubscribe = deps.cache.subscribe((changes, revision) => {
      for (const c of changes) {
        if (c.type !== 'alloc') continue;
        const { before, after } = c;
        // The agent's own status reports must not wake it: only server-side changes count.
        const changed =
          !before || !after || before.desiredStatus !== after.desiredStatus || before.jobVersion !== after.jobVersion || before.modifiedAt !== after.modifiedAt || before.nodeId !== after.nodeId;
        // Its report can still take an allocation off its list (stopped and now terminal): a
        // delta must say so, but that is no news worth a wake.
        if (!changed && isListedToAgent(before!) === isListedToAgent(after!)) continue;
        if (before?.nodeId) this.logChange(before.nodeId, before.id, revision);
        if (after?.nodeId && after.nodeId !== before?.nodeId) this.logChange(after.nodeId, after.id, revision);
        if (!changed) continue;
        if (before?.nodeId) this.nodeChanged(before.nodeId, revision);
        if (after?.nodeId && after.nodeId !== before?.nodeId) this.nodeChanged(after.nodeId, revision);
      }
    });
  }

  /** Notes that `allocId`'s entry in `nodeId`'s list may have changed at `revision` (for delta answers). */
  private logChange(nodeId: NodeId, allocId: AllocId, revision: number): void {
    let log = this.changeLogs.get(nodeId);
    if (!log) this.changeLogs.set(nodeId, (log = { horizon: this.baseline, changed: new Map() }));
    // Delete first: the map stays in revision order, so trimming stops at the first newer entry.
    log.changed.delete(allocId);
    log.changed.set(allocId, revision);
    if (log.changed.size > MAX_LOGGED_CHANGES_PER_NODE) {
      // An agent that stopped asking: forget its changes, its next query gets the whole list.
      log.horizon = revision;
      log.changed.clear();
    }
  }

  nodeAllocChanges(nodeId: NodeId, since: number): AllocId[] | undefined {
    const log = this.changeLogs.get(nodeId);
    const horizon = log?.horizon ?? this.baseline;
    // Older than what the log covers (or from before this server started), or newer than
    // anything here (a store that counts anew): only the whole list is sure to be right.
    if (since < horizon || since > this.deps.cache.revision) return undefined;
    if (!log) return [];
    // The agent holds everything up to `since`: what it asks with, it applied.
    for (const [id, revision] of log.changed) {
      if (revision > since) break;
      log.changed.delete(id);
    }
    log.horizon = Math.max(log.horizon, since);
    return [...log.changed.keys()];
  }

  close(): void {
    this.unsubscribe();
    for (const cancel of this.wakeTimers.values()) cancel();
    this.wakeTimers.clear();
    for (const ws of this.waiters.values()) for (const w of ws) w();
  }

  /**
   * Something the agent must act on changed on `nodeId`. Its blocking query answers at
   * once after a quiet spell, then at most every nodeWakeIntervalMs while changes keep
   * coming (a burst of plans, each placing one allocation there): every answer is the
   * node's whole list, so answering per plan cost O(plans × allocations per node) (issue 5:
   * 15 % of the server's CPU at 100k allocations). The index moves only when it answers,
   * so a poll that comes back meanwhile waits too.
   */
  private nodeChanged(nodeId: NodeId, revision: number): void {
    this.pendingIndex.set(nodeId, revision);
    if (this.wakeTimers.has(nodeId)) return;
    const now = this.deps.clock.now();
    const wait = (this.lastWake.get(nodeId) ?? -Infinity) + nodeWakeIntervalMs(this.deps.monitor.nodeCount()) - now;
    if (wait <= 0) return this.wakeNode(nodeId);
    this.wakeTimers.set(
      nodeId,
      this.deps.clock.setTimer(wait, () => {
        this.wakeTimers.delete(nodeId);
        this.wakeNode(nodeId);
      }),
    );
  }

  private wakeNode(nodeId: NodeId): void {
    const revision = this.pendingIndex.get(nodeId);
    if (revision === undefined) return;
    this.pendingIndex.delete(nodeId);
    this.lastWake.set(nodeId, this.deps.clock.now());
    this.nodeIndex.set(nodeId, revision);
    const ws = this.waiters.get(nodeId);
    if (ws) for (const w of ws) w();
  }

  // ---- jobs

  async registerJob(input: Job): Promise<{ job: Job; result: 'created' | 'updated' | 'unchanged'; evalId?: EvalId }> {
    // A job claiming service names or ingress routes is checked against every other job and
    // written under one lock, so two racing submissions cannot both pass (the job key's CAS
    // guards only the job itself). The cache is read after the previous holder's commit
    // reached it (commit waits for it). Jobs without services claim nothing: no queue.
    if (!claimsAnything(input)) return this.writeJob(input);
    return this.claimsLock.run(async () => {
      assertNoJobClaimConflicts(this.state.jobs(), input);
      return this.writeJob(input);
    });
  }

  private async writeJob(input: Job): Promise<{ job: Job; result: 'created' | 'updated' | 'unchanged'; evalId?: EvalId }> {
    const { stateStore, clock } = this.deps;
    const now = clock.now();
    const current = await stateStore.getJob(input.namespace, input.name);
    if (current && !current.value.stopped && sameIntent(current.value, input)) {
      return { job: current.value, result: 'unchanged' };
    }
    // Re-submitting a stopped job with the same spec starts it again without a new version.
    const version = !current ? 1 : sameIntent(current.value, input) ? current.value.version : current.value.version + 1;
    const job: Job = { ...input, version, stopped: false, submittedAt: now };
    const evaluation = newEvaluation(job.namespace, job.name, 'job-register', now);
    const writes: StateWrite[] = [
      { kind: 'job', value: job, expectedModRevision: current?.modRevision ?? 0 },
      { kind: 'eval', value: evaluation },
    ];
    if (!current || version !== current.value.version) writes.push({ kind: 'jobVersion', value: job });
    await this.commit(writes);
    this.deps.logger.info({ job: `${job.namespace}/${job.name}`, version }, current ? 'job updated' : 'job registered');
    return { job, result: current ? 'updated' : 'created', evalId: evaluation.id };
  }

  async stopJob(namespace: string, name: string, opts: { purge: boolean }): Promise<{ evalId?: EvalId; purged: boolean }> {
    const { stateStore, clock } = this.deps;
    const current = await stateStore.getJob(namespace, name);
    if (!current) throw new NotFoundError('job', `${namespace}/${name}`);
    const now = clock.now();
    const evaluation = newEvaluation(namespace, name, 'job-deregister', now);
    if (opts.purge) {
      await this.commit([{ kind: 'eval', value: evaluation }], [
        { kind: 'job', namespace, name, expectedModRevision: current.modRevision },
        { kind: 'jobVersions', namespace, name },
      ]);
      return { evalId: evaluation.id, purged: true };
    }
    if (current.value.stopped) return { purged: false };
    await this.commit([
      { kind: 'job', value: { ...current.value, stopped: true }, expectedModRevision: current.modRevision },
      { kind: 'eval', value: evaluation },
    ]);
    return { evalId: evaluation.id, purged: false };
  }

  listJobVersions(namespace: string, name: string): Promise<Job[]> {
    return this.deps.stateStore.listJobVersions(namespace, name);
  }

  // ---- nodes

  async registerNode(req: NodeRegistration): Promise<{ node: Node; secret: string; heartbeatTtlMs: number; serverToken: string; serviceCidr: string }> {
    const { stateStore, clock, monitor } = this.deps;
    const now = clock.now();
    let id: NodeId;
    let secret: string;
    let existing: Node | undefined;
    let modRevision = 0;
    if (req.nodeId) {
      if (!req.secret) throw new KaruError('UNAUTHORIZED', `node ${req.nodeId} must present its secret to register again`);
      if (await stateStore.getNodeRevocation(req.nodeId)) throw revokedError(req.nodeId);
      const stored = await stateStore.getNodeSecret(req.nodeId);
      // A node the server forgot (state wiped) may keep the identity it proves by its secret.
      if (stored !== undefined && !secretMatches(stored, req.secret)) {
        throw new KaruError('UNAUTHORIZED', `wrong secret for node ${req.nodeId}`);
      }
      id = req.nodeId;
      secret = req.secret;
      const found = await stateStore.getNode(id);
      existing = found?.value;
      modRevision = found?.modRevision ?? 0;
    } else {
      id = newNodeId(now);
      secret = randomBytes(32).toString('hex');
    }
    const node: Node = {
      id,
      name: req.name,
      address: req.address,
      agentUrl: req.agentUrl,
      status: 'ready',
      statusDescription: driverSummary(req.drivers),
      eligibility: existing?.eligibility ?? 'eligible',
      drain: existing?.drain ?? false,
      // A drain survives the agent registering again (restart, new certificate).
      ...(existing?.drainStrategy ? { drainStrategy: existing.drainStrategy } : {}),
      ...(existing?.lastDrain ? { lastDrain: existing.lastDrain } : {}),
      resources: req.resources,
      attributes: req.attributes,
      labels: req.labels,
      ...(req.pool !== undefined ? { pool: req.pool } : {}),
      drivers: req.drivers,
      portRange: req.portRange ?? existing?.portRange ?? { min: 20000, max: 32000 },
      registeredAt: existing?.registeredAt ?? now,
      statusUpdatedAt: now,
    };
    node.events = withStatus(existing ?? node, 'ready', existing ? `registered again (was ${existing.status})` : 'registered', now).events!;
    const writes: StateWrite[] = [{ kind: 'node', value: node, expectedModRevision: modRevision }, ...returnEvals(this.deps.cache, existing, now)];
    if (!existing) writes.push({ kind: 'nodeSecret', nodeId: id, value: hashSecret(secret) });
    await this.commit(writes);
    const heartbeatTtlMs = monitor.beat(id);
    this.deps.logger.info({ node: id, name: node.name, address: node.address }, existing ? 'node re-registered' : 'node registered');
    return { node, secret, heartbeatTtlMs, serverToken: this.deps.serverToken, serviceCidr: this.deps.serviceCidr };
  }

  setNodeEligibility(nodeId: NodeId, eligible: boolean): Promise<Node> {
    return setNodeEligibility(this.deps, nodeId, eligible);
  }

  drainNode(nodeId: NodeId, req: DrainRequest): Promise<Node> {
    return drainNode(this.deps, nodeId, req);
  }

  rebalance(req: RebalanceRequest): Promise<RebalanceResult> {
    return rebalance(this.deps, req);
  }

  async authenticateNode(nodeId: NodeId, secret: string): Promise<boolean> {
    // Every heartbeat is authenticated: at 5,000 nodes that is thousands of store reads a
    // second. A secret proven recently is trusted from memory for AUTH_MEMO_MS.
    const now = this.deps.clock.now();
    const memo = this.authMemo.get(nodeId);
    if (memo && now - memo.at < AUTH_MEMO_MS && sameString(memo.secret, secret)) return !(await this.isNodeRevoked(nodeId));
    const stored = await this.deps.stateStore.getNodeSecret(nodeId);
    const ok = stored !== undefined && secretMatches(stored, secret) && !(await this.isNodeRevoked(nodeId));
    if (ok) this.authMemo.set(nodeId, { secret, at: now });
    return ok;
  }

  async isNodeRevoked(nodeId: NodeId): Promise<boolean> {
    // A revocation is forever: once seen, remembered. "Not revoked" is re-read after
    // AUTH_MEMO_MS, so one written by another server (etcd) counts within that time.
    if (this.revoked.has(nodeId)) return true;
    const now = this.deps.clock.now();
    const checked = this.notRevokedAt.get(nodeId);
    if (checked !== undefined && now - checked < AUTH_MEMO_MS) return false;
    const revoked = (await this.deps.stateStore.getNodeRevocation(nodeId)) !== undefined;
    if (revoked) {
      this.revoked.add(nodeId);
      this.notRevokedAt.delete(nodeId);
      this.authMemo.delete(nodeId);
    } else this.notRevokedAt.set(nodeId, now);
    return revoked;
  }

  async removeNode(nodeId: NodeId): Promise<{ evalIds: EvalId[] }> {
    const { stateStore, clock, monitor } = this.deps;
    const found = await stateStore.getNode(nodeId);
    if (!found) throw new NotFoundError('node', nodeId);
    const now = clock.now();
    const node = found.value;
    // Revoked, marked down and its work re-evaluated in one write: the scheduler replaces
    // its allocations the same way as for a node that missed its heartbeats.
    const evals = evalsForJobsOnNode(this.deps.cache, nodeId, 'node-update', now);
    await this.commit([
      { kind: 'nodeRevoked', value: { nodeId, revokedAt: now } },
      { kind: 'node', value: { ...node, status: 'down', eligibility: 'ineligible', statusDescription: 'removed: its certificate is revoked', statusUpdatedAt: now }, expectedModRevision: found.modRevision },
      ...evals.map((e): StateWrite => ({ kind: 'eval', value: e })),
    ]);
    monitor.forget(nodeId);
    this.revoked.add(nodeId);
    this.authMemo.delete(nodeId);
    this.driversSeen.delete(nodeId);
    this.deps.logger.warn({ node: nodeId, name: node.name, evaluations: evals.length }, 'node removed: certificate revoked');
    return { evalIds: evals.map((e) => e.id) };
  }

  async heartbeat(nodeId: NodeId, drivers?: Record<string, DriverHealth>): Promise<{ heartbeatTtlMs: number }> {
    const node = this.deps.cache.node(nodeId);
    if (!node) throw new NotFoundError('node', nodeId);
    const heartbeatTtlMs = this.deps.monitor.beat(nodeId);
    const driversChanged = drivers !== undefined && this.driversDiffer(nodeId, drivers, node.drivers);
    if (node.status !== 'ready' || driversChanged) {
      const now = this.deps.clock.now();
      const revision = await updateNode(this.deps.stateStore, nodeId, (current) => {
        const next = drivers ?? current.drivers;
        if (current.status === 'ready' && JSON.stringify(next) === JSON.stringify(current.drivers)) return undefined;
        const back = current.status !== 'ready' ? withStatus(current, 'ready', `heartbeat received (was ${current.status})`, now) : current;
        return [
          { kind: 'node', value: { ...back, status: 'ready', drivers: next, statusDescription: driverSummary(next), statusUpdatedAt: now } },
          ...returnEvals(this.deps.cache, current, now),
        ];
      });
      if (revision !== undefined) await this.deps.cache.waitFor(revision);
      if (node.status !== 'ready') this.deps.logger.info({ node: nodeId }, 'node is back');
    }
    return { heartbeatTtlMs };
  }

  /**
   * Whether a heartbeat's drivers differ from the stored ones. The API hands the same parsed
   * object for the same body, so an unchanged beat is two reference checks, not two JSON
   * encodings (issue 5: thousands of beats a second).
   */
  private driversDiffer(nodeId: NodeId, sent: Record<string, DriverHealth>, stored: Record<string, DriverHealth>): boolean {
    const seen = this.driversSeen.get(nodeId);
    if (seen && seen.sent === sent && seen.stored === stored) return false;
    if (JSON.stringify(sent) !== JSON.stringify(stored)) return true;
    this.driversSeen.set(nodeId, { sent, stored });
    return false;
  }

  async updateAllocStatus(nodeId: NodeId, updates: AllocStatus[]): Promise<void> {
    const { cache, clock } = this.deps;
    const now = clock.now();
    // An authenticated report proves the agent alive as well as a beat does, and while plans
    // land on it a busy node's beats can be late behind its own work (issue 5: false down
    // marks under load). Only for a ready node: bringing one back is the heartbeat's job.
    if (cache.node(nodeId)?.status === 'ready') this.deps.monitor.beat(nodeId);
    const writes: StateWrite[] = [];
    const jobsToEvaluate = new Map<string, { namespace: string; name: string }>();
    for (const u of updates) {
      const alloc = cache.alloc(u.id);
      if (!alloc || alloc.nodeId !== nodeId) continue;
      writes.push({ kind: 'allocStatus', value: { ...u, nodeId, updatedAt: now } });
      const becameTerminal = !isClientTerminal(alloc.clientStatus) && isClientTerminal(u.clientStatus);
      if (becameTerminal && alloc.desiredStatus === 'run') {
        // A failure may be rescheduled; a finished service task must be replaced.
        jobsToEvaluate.set(`${alloc.namespace}/${alloc.jobName}`, { namespace: alloc.namespace, name: alloc.jobName });
      }
    }
    for (const j of jobsToEvaluate.values()) writes.push({ kind: 'eval', value: newEvaluation(j.namespace, j.name, 'alloc-failure', now) });
    if (writes.length > 0) await this.commit(writes);
  }

  async waitForNodeAllocs(nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal): Promise<number> {
    const current = () => this.nodeIndex.get(nodeId) ?? this.baseline;
    if (index === 0 || current() > index) return Math.max(1, current());
    await new Promise<void>((resolve) => {
      let set = this.waiters.get(nodeId);
      if (!set) this.waiters.set(nodeId, (set = new Set()));
      const done = () => {
        cancelTimer();
        signal?.removeEventListener('abort', done);
        set!.delete(done);
        if (set!.size === 0) this.waiters.delete(nodeId);
        resolve();
      };
      const cancelTimer = this.deps.clock.setTimer(waitMs, done);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
    return Math.max(1, current());
  }

  catalog(): Promise<Catalog> {
    return this.deps.catalog.catalog();
  }

  waitForCatalog(index: number, waitMs: number, signal?: AbortSignal): Promise<Catalog> {
    return this.deps.catalog.waitFor(index, waitMs, signal);
  }

  agentEndpoint(nodeId: NodeId): { url: string; token: string } | undefined {
    const node = this.deps.cache.node(nodeId);
    if (!node?.agentUrl) return undefined;
    return { url: node.agentUrl, token: this.deps.serverToken };
  }

  resolveAllocId(idOrPrefix: string): AllocId | undefined {
    const { cache } = this.deps;
    if (cache.alloc(idOrPrefix as AllocId)) return idOrPrefix as AllocId;
    const needle = idOrPrefix.toLowerCase().replace(/^alloc_/, '');
    if (needle.length < 4) return undefined;
    // The CLI shows the random part of the id (after the 10 time characters).
    const matches = cache.allocs().filter((a) => {
      const ulid = a.id.slice('alloc_'.length);
      return ulid.startsWith(needle) || ulid.slice(10).startsWith(needle);
    });
    if (matches.length > 1) {
      throw new KaruError('INVALID', `allocation prefix '${idOrPrefix}' is ambiguous: it matches ${matches.length} allocations; give more characters`, {
        details: { candidates: matches.slice(0, 10).map((a) => a.id) },
      });
    }
    return matches[0]?.id;
  }

  private async commit(writes: StateWrite[], deletes?: Parameters<StateStore['commit']>[1]): Promise<number> {
    const revision = await this.deps.stateStore.commit(writes, deletes);
    // Read-your-writes: the API answers from the cache right after.
    await this.deps.cache.waitFor(revision);
    return revision;
  }
}

/** Changes kept per node for delta answers; past this the agent gets its whole list next time. */
const MAX_LOGGED_CHANGES_PER_NODE = 4_096;

/** What the agent is sent (api/routes/agent.ts): every allocation meant to run, and stopped ones until it reported them terminal. */
export function isListedToAgent(a: { desiredStatus: string; clientStatus: AllocView['clientStatus'] }): boolean {
  return a.desiredStatus === 'run' || !isClientTerminal(a.clientStatus);
}

/** How long a proven node secret, or a "not revoked" answer, is trusted without a store read. */
const AUTH_MEMO_MS = 10_000;

function revokedError(nodeId: NodeId): KaruError {
  return new KaruError('UNAUTHORIZED', `node ${nodeId} was removed from the cluster (karu node rm); join again with a token to come back as a new node`, { details: { revoked: true } });
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Equality in time independent of where the strings differ (a secret compared with one proven before). */
function sameString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function secretMatches(storedHash: string, secret: string): boolean {
  const a = Buffer.from(storedHash, 'hex');
  const b = Buffer.from(hashSecret(secret), 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

function driverSummary(drivers: Record<string, DriverHealth>): string {
  const bad = Object.entries(drivers).filter(([, d]) => !d.healthy);
  if (bad.length === 0) return 'ready';
  return bad.map(([name, d]) => `driver ${name} unhealthy: ${d.detail}`).join('; ');
}
