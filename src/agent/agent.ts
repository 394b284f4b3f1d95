import { mkdir } from 'node:fs/promises';
import type { AllocStatus } from '../core/alloc.js';
import { isClientTerminal } from '../core/alloc.js';
import { isKaruError } from '../core/errors.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { DriverHealth } from '../core/node.js';
import { backoffDelay } from '../lib/backoff.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { silentLogger } from '../lib/logger.js';
import { seededRng, type Rng } from '../lib/rng.js';
import type { KaruClient } from '../client/client.js';
import type { NodeAllocation, RegisterNodeRequest } from '../client/types.js';
import type { Driver, RecoveredTask, VolumeInfo } from '../driver/driver.js';
import { AllocRunner } from './alloc-runner.js';
import type { AgentConfig } from './config.js';
import { DriverHealthTracker } from './driver-health.js';
import { fingerprintNode, hostFacts, type HostFacts, type NodeFingerprint } from './fingerprint.js';
import { loadIdentity, saveIdentity, type NodeIdentityRecord } from './identity.js';
import { StatusReporter } from './status-reporter.js';
import { CutoffGuard } from './cutoff.js';
import { PAUSE_TASK } from '../core/service.js';
import type { AgentDataPlane } from './dataplane/node-dataplane.js';
import { DEFAULT_SERVICE_CIDR } from '../core/service.js';

/** The server calls the agent makes: a KaruClient, or an in-memory fake in tests. */
export type AgentServerApi = Pick<KaruClient, 'registerNode' | 'heartbeat' | 'nodeAllocations' | 'updateAllocStatus' | 'catalog'>;

export interface AgentDeps {
  config: AgentConfig;
  driver: Driver;
  server: AgentServerApi;
  /** URL of this agent's own HTTP API, given to the server at registration. */
  agentUrl: string;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
  /** How long one blocking allocations query may wait. Default 30 s. */
  allocWaitMs?: number;
  /** Default: this machine's. */
  host?: HostFacts;
  /**
   * With mutual TLS the node's identity is its certificate: a refused registration is
   * reported (revoked, or a server of another cluster), never answered by registering anew.
   */
  identityIsCertificate?: boolean;
  /**
   * The node's data plane (DNS, VIPs, ingress), started after the first registration with
   * the server's service range and stopped with the agent. Absent: none (tests, sim,
   * `--no-dataplane`).
   */
  dataPlane?: AgentDataPlane;
}

/** Lifecycle of the agent: created → starting → running → stopped. */
export type AgentState = 'created' | 'starting' | 'running' | 'stopped';

const SESSION_RETRY = { baseMs: 500, maxMs: 15_000 } as const;

/**
 * Beats per TTL. Half the TTL: a node's deadline is its last beat + TTL + grace, so how
 * soon a dead node is noticed does not depend on this, only how long a silence is forgiven
 * (TTL/2 + grace = 2 s with the defaults, one lost beat and then some) and what the beats
 * cost: at a third, 5,000 nodes sent 7,500 a second (issue 5, docs/design/failure.md).
 */
const BEATS_PER_TTL = 2;

/**
 * The node agent. Registers the node (keeping its identity in `<dataDir>/node.json`),
 * heartbeats at half the server's TTL, follows its allocations with a blocking
 * query and runs each through an AllocRunner, and reports what it observes.
 *
 * Level-based: every answer of the allocations query is the full list for this node, and
 * the agent makes its runners match it (new → start, desired stop → stop, gone → stop and
 * forget). The server being unreachable stops nothing: allocations keep running and the
 * session retries with backoff. On start-up the agent first finds its containers by label
 * (`driver.recover`) and reattaches to them; containers with no allocation are removed.
 */
export class Agent {
  private stateNow: AgentState = 'created';
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly health = new DriverHealthTracker(false, 'not fingerprinted yet');
  private readonly runners = new Map<AllocId, AllocRunner>();
  private readonly reporter: StatusReporter;
  private readonly abort = new AbortController();
  private readonly cleanups: (() => void)[] = [];
  private identity: NodeIdentityRecord | undefined;
  /** Node ids this data dir had before the server refused them: their containers are orphans. */
  private readonly formerNodeIds: NodeId[] = [];
  private token: string | undefined;
  private ttlMs = 30_000;
  /** The cluster's service range, from the registration answer. */
  private serviceCidr: string | undefined;
  private fingerprint: NodeFingerprint | undefined;
  private registering: Promise<void> | undefined;
  private wakeHeartbeat: (() => void) | undefined;
  /** Ends the allocation loop's retry wait: a heartbeat got through again. */
  private wakeAllocs: (() => void) | undefined;
  /** Stops allocations whose group says so after the server has been unreachable too long. */
  private readonly cutoff: CutoffGuard;
  private loops: Promise<void>[] = [];
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(private readonly deps: AgentDeps) {
    this.clock = deps.clock ?? systemClock;
    this.rng = deps.rng ?? seededRng(Date.now());
    this.log = (deps.logger ?? silentLogger()).child({ component: 'agent' });
    this.cutoff = new CutoffGuard({ clock: this.clock, logger: this.log, runners: () => this.runners.values() });
    this.reporter = new StatusReporter({
      send: (updates) => deps.server.updateAllocStatus(this.requireNodeId(), updates),
      clock: this.clock,
      rng: this.rng,
      logger: this.log,
    });
  }

  get state(): AgentState {
    return this.stateNow;
  }

  /** Undefined until the first registration succeeded. */
  get nodeId(): NodeId | undefined {
    return this.identity?.nodeId;
  }

  /** The token the server presents to this agent's HTTP API. */
  get serverToken(): string | undefined {
    return this.token;
  }

  get driver(): Driver {
    return this.deps.driver;
  }

  get driverHealth(): DriverHealth {
    return { healthy: this.health.healthy, detail: this.health.detail };
  }

  /** The runner of an allocation on this node, if the agent has one. */
  allocRunner(id: string): AllocRunner | undefined {
    return this.runners.get(id as AllocId);
  }

  /** Statuses of every allocation the agent runs, as last derived. */
  allocStatuses(): AllocStatus[] {
    return [...this.runners.values()].map((r) => r.status);
  }

  /** Resolves once the first allocations answer has been acted on (recovery done). */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /**
   * Fingerprints, registers (retrying until the server answers or stop() is called), then
   * starts the heartbeat and allocation loops in the background.
   */
  async start(): Promise<void> {
    if (this.stateNow !== 'created') throw new Error(`agent already ${this.stateNow}`);
    this.stateNow = 'starting';
    const { config, driver } = this.deps;
    await mkdir(config.dataDir, { recursive: true });
    this.identity = await loadIdentity(config.dataDir);
    let fp;
    try {
      fp = await driver.fingerprint();
    } catch (e) {
      fp = { healthy: false, detail: errorMessage(e), attributes: {} };
    }
    this.fingerprint = fingerprintNode(this.deps.host ?? hostFacts(), fp, config);
    this.health.set(fp.healthy, fp.detail);
    this.cleanups.push(driver.onHealthChange((healthy, detail) => this.onDriverHealth(healthy, detail)));

    await this.registerWithRetry();
    if (this.abort.signal.aborted) return;
    // Before the allocation loop: containers started from here on get the node's DNS.
    await this.deps.dataPlane?.start({ serviceCidr: this.serviceCidr ?? DEFAULT_SERVICE_CIDR });
    this.stateNow = 'running';
    this.loops = [this.heartbeatLoop(), this.allocLoop()];
    this.cutoff.start();
  }

  /**
   * Ends the loops and detaches from every allocation, leaving containers running: the
   * next agent on this node reattaches to them.
   */
  async stop(): Promise<void> {
    if (this.stateNow === 'stopped') return;
    this.stateNow = 'stopped';
    this.abort.abort();
    this.cutoff.stop();
    for (const c of this.cleanups.splice(0)) c();
    this.wakeHeartbeat?.();
    await Promise.all(this.loops);
    await Promise.all([...this.runners.values()].map((r) => r.detach()));
    await this.deps.dataPlane?.stop();
    // One last attempt to tell the server what we saw; it must not hold up shutdown.
    if (this.reporter.backlog && this.identity) {
      let cancel = () => {};
      const limit = new Promise<void>((resolve) => (cancel = this.clock.setTimer(2_000, resolve)));
      await Promise.race([this.reporter.flush(), limit]);
      cancel();
    }
    this.reporter.close();
  }

  // ---- session: registration and heartbeats

  private async registerWithRetry(): Promise<void> {
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        await this.register();
        return;
      } catch (e) {
        this.log.warn({ err: errorMessage(e), attempt }, 'registration failed; retrying');
        await this.sleep(backoffDelay(attempt, this.rng, SESSION_RETRY));
      }
    }
  }

  /** Registers (single flight). A refused identity is dropped and the node registers anew. */
  private register(): Promise<void> {
    this.registering ??= (async () => {
      const { config, driver } = this.deps;
      const fp = this.fingerprint!;
      const base: RegisterNodeRequest = {
        name: config.name,
        address: config.address,
        agentUrl: this.deps.agentUrl,
        resources: fp.resources,
        attributes: fp.attributes,
        labels: { ...config.labels },
        ...(config.pool !== undefined ? { pool: config.pool } : {}),
        drivers: { [driver.name]: this.driverHealth },
        portRange: { ...config.portRange },
      };
      let res;
      try {
        res = await this.deps.server.registerNode(this.identity ? { ...base, nodeId: this.identity.nodeId, secret: this.identity.secret } : base);
      } catch (e) {
        if (!this.identity || !isRefusal(e) || this.deps.identityIsCertificate) throw e;
        this.log.warn({ nodeId: this.identity.nodeId, err: errorMessage(e) }, 'server refused our node identity; registering as a new node');
        this.formerNodeIds.push(this.identity.nodeId);
        this.identity = undefined;
        res = await this.deps.server.registerNode(base);
      }
      const identity = { nodeId: res.nodeId, secret: res.secret };
      if (identity.nodeId !== this.identity?.nodeId || identity.secret !== this.identity.secret) {
        await saveIdentity(config.dataDir, identity);
      }
      this.identity = identity;
      this.token = res.serverToken;
      this.ttlMs = res.heartbeatTtlMs;
      this.serviceCidr ??= res.serviceCidr;
      this.log.info({ nodeId: identity.nodeId, ttlMs: this.ttlMs }, 'registered');
    })().finally(() => (this.registering = undefined));
    return this.registering;
  }

  /** After the server forgot us (restart, data loss): register again and resend every status. */
  private async reregister(): Promise<void> {
    await this.register();
    for (const r of this.runners.values()) this.reporter.report(r.status);
  }

  private async heartbeatLoop(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      const period = this.ttlMs / BEATS_PER_TTL;
      const interval = failures ? Math.min(period, backoffDelay(failures - 1, this.rng, SESSION_RETRY)) : period;
      await this.sleep(interval, (wake) => (this.wakeHeartbeat = wake));
      this.wakeHeartbeat = undefined;
      if (this.abort.signal.aborted) return;
      try {
        // A beat later than the TTL is worthless: give up on it and send the next one.
        const res = await this.deps.server.heartbeat(
          this.requireNodeId(),
          { drivers: { [this.deps.driver.name]: this.driverHealth } },
          { signal: this.abort.signal, timeoutMs: Math.max(1_000, this.ttlMs) },
        );
        this.ttlMs = res.heartbeatTtlMs;
        this.cutoff.contact();
        // Back in touch after an outage: sync allocations and send statuses now, not at the end of their backoffs.
        if (failures > 0) {
          this.wakeAllocs?.();
          void this.reporter.flush();
        }
        failures = 0;
      } catch (e) {
        failures++;
        this.log.warn({ err: errorMessage(e) }, 'heartbeat failed');
        if (isRefusal(e)) await this.reregister().catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 're-registration failed'));
      }
    }
  }

  private onDriverHealth(healthy: boolean, detail: string): void {
    if (!this.health.set(healthy, detail)) return;
    this.log.info({ healthy, detail }, 'driver health changed');
    // Tell the server now rather than at the next beat.
    this.wakeHeartbeat?.();
    // The engine is back: containers may have died meanwhile; each task looks again.
    if (healthy) for (const r of this.runners.values()) r.reconcile();
  }

  // ---- allocations

  private async allocLoop(): Promise<void> {
    let index = 0;
    let failures = 0;
    // Deltas only on top of a list this loop applied whole, and never right after a failure
    // (the answer we missed or could not apply): the whole list then (level-based).
    let whole = true;
    const waitMs = this.deps.allocWaitMs ?? 30_000;
    while (!this.abort.signal.aborted) {
      try {
        // Up to 1/16 more, at random (Nomad's rule): nodes that joined together would
        // otherwise all come back at once every wait, a wave of queries (issue 5: 5,000 sim
        // nodes answered within seconds of each other, every 30 s).
        const wait = this.synced ? waitMs + Math.floor(this.rng.next() * (waitMs / 16)) : 0;
        const res = await this.deps.server.nodeAllocations(this.requireNodeId(), index, wait, this.abort.signal, { delta: this.synced && !whole && index > 0 });
        this.cutoff.contact();
        if (this.abort.signal.aborted) return;
        if (!this.synced) {
          const recovered = await this.recoverContainers();
          if (recovered === undefined) return;
          await this.reconcileStartup(res.allocations, recovered);
          this.synced = true;
          for (const w of this.syncWaiters.splice(0)) w();
        } else if (res.delta) {
          this.reconcileDelta(res.allocations, res.removed ?? []);
        } else {
          this.reconcile(res.allocations);
        }
        // A smaller index means the server restarted and counts anew: follow it.
        index = res.index;
        failures = 0;
        whole = false;
      } catch (e) {
        whole = true;
        if (this.abort.signal.aborted) return;
        this.log.warn({ err: errorMessage(e), failures }, 'allocations query failed; retrying');
        if (isRefusal(e)) await this.reregister().catch(() => undefined);
        await this.sleep(backoffDelay(failures++, this.rng, SESSION_RETRY), (wake) => (this.wakeAllocs = wake));
        this.wakeAllocs = undefined;
      }
    }
  }

  /** Our containers by allocation, retried until the driver answers (undefined on stop). */
  private async recoverContainers(): Promise<Map<string, RecoveredTask[]> | undefined> {
    const nodeIds = [this.requireNodeId(), ...this.formerNodeIds];
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        const byAlloc = new Map<string, RecoveredTask[]>();
        for (const id of nodeIds) {
          for (const t of await this.deps.driver.recover(id)) {
            const list = byAlloc.get(t.handle.labels.allocId) ?? [];
            list.push(t);
            byAlloc.set(t.handle.labels.allocId, list);
          }
        }
        return byAlloc;
      } catch (e) {
        // Without knowing our containers we could start duplicates: wait for the driver.
        this.log.warn({ err: errorMessage(e), attempt }, 'cannot list containers yet; retrying');
        await this.sleep(backoffDelay(attempt, this.rng, SESSION_RETRY));
      }
    }
    return undefined;
  }

  /** First sync after start: reattach to what still runs, remove what nobody wants. */
  private async reconcileStartup(allocs: NodeAllocation[], recovered: Map<string, RecoveredTask[]>): Promise<void> {
    const known = new Set<string>();
    for (const na of allocs) {
      known.add(na.alloc.id);
      const found = recovered.get(na.alloc.id);
      if (!found?.length) continue;
      if (na.alloc.desiredStatus === 'stop' && isClientTerminal(na.alloc.clientStatus)) continue; // removed below
      this.log.info({ alloc: na.alloc.id, containers: found.length }, 'reattaching to allocation');
      const runner = this.newRunner(na);
      this.runners.set(na.alloc.id as AllocId, runner);
      runner.restore(found, na.alloc);
    }
    const orphans: RecoveredTask[] = [];
    for (const [allocId, tasks] of recovered) if (!this.runners.has(allocId as AllocId)) orphans.push(...tasks);
    this.reconcile(allocs);
    const removeOrphan = async (t: RecoveredTask) => {
      this.log.info({ container: t.handle.id, alloc: t.handle.labels.allocId, known: known.has(t.handle.labels.allocId) }, 'removing container of no live allocation');
      try {
        await this.deps.driver.destroy(t.handle);
      } catch (e) {
        this.log.warn({ err: errorMessage(e), container: t.handle.id }, 'could not remove orphan container');
      }
    };
    // Tasks first, then the pods' pause containers whose namespaces they were in.
    await Promise.all(orphans.filter((t) => t.handle.labels.task !== PAUSE_TASK).map(removeOrphan));
    await Promise.all(orphans.filter((t) => t.handle.labels.task === PAUSE_TASK).map(removeOrphan));
    await this.removeOrphanVolumes();
  }

  /**
   * Volumes of allocations this agent does not run go, whether their containers went just
   * now (above) or before: an agent that died between removing an allocation's containers
   * and its volumes would otherwise leak them for good. A volume still in use (a container
   * we could not remove) stays, with a warning; the next start-up tries again.
   */
  private async removeOrphanVolumes(): Promise<void> {
    for (const id of [this.requireNodeId(), ...this.formerNodeIds]) {
      let volumes: VolumeInfo[];
      try {
        volumes = await this.deps.driver.listVolumes(id);
      } catch (e) {
        this.log.warn({ err: errorMessage(e) }, 'could not list volumes; leftovers stay until the next start');
        return;
      }
      for (const v of volumes) {
        if (this.runners.has(v.allocId as AllocId)) continue;
        this.log.info({ volume: v.name, alloc: v.allocId }, 'removing volume of no live allocation');
        await this.deps.driver.removeVolume(v.name).catch((e: unknown) => this.log.warn({ err: errorMessage(e), alloc: v.allocId, volume: v.name }, 'could not remove the volume of no live allocation'));
      }
    }
  }

  /** Makes the runners match the server's list (level-based: safe to repeat). */
  private reconcile(allocs: NodeAllocation[]): void {
    const listed = new Set<AllocId>();
    for (const na of allocs) {
      listed.add(na.alloc.id as AllocId);
      this.follow(na);
    }
    for (const id of this.runners.keys()) if (!listed.has(id)) this.drop(id);
  }

  /** The same for a delta answer: what changed since the index we asked with, and what left the list. */
  private reconcileDelta(changed: NodeAllocation[], removed: readonly string[]): void {
    for (const na of changed) this.follow(na);
    for (const id of removed) this.drop(id as AllocId);
  }

  /** One allocation on the server's list: update its runner, or start one. */
  private follow(na: NodeAllocation): void {
    const id = na.alloc.id as AllocId;
    const runner = this.runners.get(id);
    if (runner) return runner.update(na.alloc);
    // Finished before this agent knew it (or before a restart): nothing to run again.
    if (isClientTerminal(na.alloc.clientStatus)) return;
    const fresh = this.newRunner(na);
    this.runners.set(id, fresh);
    // It ran here before (the agent restarted and its containers are gone): keep its history.
    if (Object.keys(na.alloc.taskStates).length) fresh.restore([], na.alloc);
    else fresh.start();
  }

  /** Off the server's list (purged): stop it and forget it; nobody wants its status any more. */
  private drop(id: AllocId): void {
    const runner = this.runners.get(id);
    if (!runner) return;
    this.runners.delete(id);
    this.reporter.forget(id);
    void runner.stop().then(() => this.reporter.forget(id));
  }

  private newRunner(na: NodeAllocation): AllocRunner {
    return new AllocRunner({
      alloc: na.alloc,
      group: na.group,
      jobType: na.jobType,
      node: { id: this.requireNodeId(), address: this.deps.config.address, ...this.dnsOfNode() },
      driver: this.deps.driver,
      health: this.health,
      clock: this.clock,
      rng: this.rng,
      logger: this.log,
      onStatus: (s) => {
        if (this.runners.get(s.id) !== undefined) this.reporter.report(s);
      },
    });
  }

  // ---- plumbing

  /** The data plane's DNS server for new containers, when it serves one. */
  private dnsOfNode(): { dnsServer?: string } {
    const dns = this.deps.dataPlane?.dnsServer;
    return dns ? { dnsServer: dns } : {};
  }

  private requireNodeId(): NodeId {
    if (!this.identity) throw new Error('agent is not registered');
    return this.identity.nodeId;
  }

  /** Sleeps on the clock; ends early on stop() or when `expose`'s wake function is called. */
  private sleep(ms: number, expose?: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      if (signal.aborted) return resolve();
      let cancel = () => {};
      const done = () => {
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      cancel = this.clock.setTimer(ms, done);
      signal.addEventListener('abort', done, { once: true });
      expose?.(done);
    });
  }
}

/** The server does not know this node or its secret: register again. */
function isRefusal(e: unknown): boolean {
  return isKaruError(e) && (e.code === 'NOT_FOUND' || e.code === 'UNAUTHORIZED');
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
